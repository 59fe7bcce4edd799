import type { ClientLink, LinkMessage } from '../client-link.js';
import { EVENTS } from '../../shared/protocol/events.js';
import type { CoordinatorServer } from '../client-events.js';
import type { RelayedMessage } from './secure-relay.js';

/**
 * A client connected to another cluster node, as the leader's coordinator sees it. The client's
 * own node sends it the welcome and the round's close, and under plaintext edge aggregation the
 * training task (edge-aggregator.ts), so those are not relayed; a secure round's task and stage
 * messages go to its node over the cluster bus (`relay`, secure-relay.ts); closing it (a newer
 * connection with its id joined) goes through socket.io's Redis adapter to the node that holds
 * the connection.
 */
export class RemoteLink implements ClientLink {
  readonly canEvaluate = false;

  constructor(
    readonly id: string,
    readonly node: string,
    readonly connection: string,
    /** The identity key (text) the client registered at join on its node, for secure rounds' rosters. */
    readonly identityKey: string | undefined,
    private readonly io: CoordinatorServer,
    private readonly relay: (message: RelayedMessage) => void,
  ) {}

  send(message: LinkMessage): void {
    switch (message.event) {
      case 'welcome':
      case 'round-closed':
        return;
      case 'train':
      case 'secagg':
        this.relay(message);
        return;
      case 'evaluate':
      case 'secure-evaluate':
      case 'secagg-evaluation':
        // Federated evaluation asks the leader's own clients only (canEvaluate is false here).
        throw new Error(`cluster mode does not relay '${message.event}' messages to clients on other nodes`);
      default: {
        const never: never = message;
        throw new Error(`unknown outbound message ${JSON.stringify(never)}`);
      }
    }
  }

  close(reason: string): void {
    this.io.to(this.connection).emit(EVENTS.refused, { code: 'replaced', message: reason });
    this.io.in(this.connection).disconnectSockets(true);
  }
}
