/** A client stops taking part in the round: the coordinator or a peer did something it must not accept. */
export class SecAggRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecAggRefusal';
  }
}

/** The coordinator rejects one message (wrong phase, unknown sender, malformed); its state is unchanged. */
export class SecAggMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecAggMessageError';
  }
}
