import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ClusterKeys } from './cluster-keys.js';
import { decodeFrame, encodeFrame, type Framed } from './cluster-messages.js';

/** Who hears a message: every node, or the leader only (partials, client changes, queued rounds). */
export type Audience = 'all' | 'leader';

/**
 * Frames above this size are stored under a key and only that key is published: Redis drops a
 * subscriber whose pending pub/sub output passes 32 MB (the default `client-output-buffer-limit
 * pubsub 32mb 8mb 60`), which one node's forwarded updates at 1,000 clients of a small model reach.
 */
export const INLINE_FRAME_BYTES = 4 * 1024 * 1024;
/** How long a stored frame waits for its readers: longer than any round's stage. */
const STORED_FRAME_TTL_MS = 120_000;

/** The first byte of a pub/sub message: a frame follows, or the key of a stored frame. */
const INLINE = 0;
const STORED = 1;

/** A pub/sub message carrying `framed` itself (what send() publishes below INLINE_FRAME_BYTES). */
export function inlineMessage(framed: Framed): Buffer {
  return Buffer.concat([Buffer.of(INLINE), encodeFrame(framed)]);
}

/**
 * Cluster messages over Redis pub/sub: one channel every node hears, and one only the current
 * leader subscribes to, so partial aggregates reach the leader alone. Delivery is at most once
 * (pub/sub): whatever a lost message carried is recovered by the round's deadline and retry.
 * Messages are handled in the order they were published, stored frames included.
 */
export class ClusterBus {
  private leaderSubscribed = false;
  /** Bytes of frames received on the leader channel, for the bench and /v1/cluster. */
  leaderBytesIn = 0;
  /** Handling of the messages behind a stored frame being fetched; empty when none is. */
  private backlog: Promise<void> | undefined;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly keys: ClusterKeys,
    private readonly onMessage: (framed: Framed, bytes: number) => void,
    private readonly onInvalid: (reason: string) => void,
    private readonly inlineFrameBytes = INLINE_FRAME_BYTES,
  ) {
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const leaderChannel = channel.toString('utf8') === this.channel('leader');
      if (message.byteLength > 0 && message[0] === STORED) {
        const fetched = this.pub.getBuffer(message.toString('utf8', 1));
        this.after(async () => {
          const frame = await fetched.catch(() => null);
          if (frame === null) this.onInvalid(`stored cluster message ${message.toString('utf8', 1)} is gone`);
          else this.deliver(frame, leaderChannel);
        });
      } else {
        const handle = () =>
          message.byteLength > 0 && message[0] === INLINE
            ? this.deliver(message.subarray(1), leaderChannel)
            : this.onInvalid(
                `cluster message of ${message.byteLength} bytes starts with neither a frame nor a stored frame's key`,
              );
        if (this.backlog) this.after(async () => handle());
        else handle();
      }
    });
  }

  async start(): Promise<void> {
    await this.sub.subscribe(this.channel('all'));
  }

  /** Hear the leader channel too (this node became the leader), or stop hearing it. */
  async leading(on: boolean): Promise<void> {
    if (on === this.leaderSubscribed) return;
    this.leaderSubscribed = on;
    if (on) await this.sub.subscribe(this.channel('leader'));
    else await this.sub.unsubscribe(this.channel('leader'));
  }

  /** Publishes (a large frame through a stored key); resolves with the frame's size in bytes. */
  async send(to: Audience, framed: Framed): Promise<number> {
    const frame = encodeFrame(framed);
    if (frame.byteLength <= this.inlineFrameBytes) {
      await this.pub.publish(this.channel(to), Buffer.concat([Buffer.of(INLINE), frame]));
    } else {
      const key = `${this.keys.channel}:frame:${randomUUID()}`;
      await this.pub.set(key, frame, 'PX', STORED_FRAME_TTL_MS);
      await this.pub.publish(this.channel(to), Buffer.concat([Buffer.of(STORED), Buffer.from(key, 'utf8')]));
    }
    return frame.byteLength;
  }

  /** Runs `handle` once every message received before it has been handled. */
  private after(handle: () => Promise<void>): void {
    const next = (this.backlog ?? Promise.resolve())
      .then(handle)
      .catch((e: unknown) => this.onInvalid(`a cluster message could not be handled: ${(e as Error).message}`))
      .finally(() => {
        if (this.backlog === next) this.backlog = undefined;
      });
    this.backlog = next;
  }

  private deliver(frame: Buffer, leaderChannel: boolean): void {
    if (leaderChannel) this.leaderBytesIn += frame.byteLength;
    let framed: Framed;
    try {
      framed = decodeFrame(frame);
    } catch (e) {
      this.onInvalid((e as Error).message);
      return;
    }
    this.onMessage(framed, frame.byteLength);
  }

  private channel(audience: Audience): string {
    return `${this.keys.channel}:${audience}`;
  }
}
