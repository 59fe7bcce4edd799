import type { Redis } from 'ioredis';
import type { ClusterKeys } from './cluster-keys.js';
import { decodeFrame, encodeFrame, type Framed } from './cluster-messages.js';

/** Who hears a message: every node, or the leader only (partials, client changes, queued rounds). */
export type Audience = 'all' | 'leader';

/**
 * Cluster messages over Redis pub/sub: one channel every node hears, and one only the current
 * leader subscribes to, so partial aggregates reach the leader alone. Delivery is at most once
 * (pub/sub): whatever a lost message carried is recovered by the round's deadline and retry.
 */
export class ClusterBus {
  private leaderSubscribed = false;
  /** Bytes of frames received on the leader channel, for the bench and /v1/cluster. */
  leaderBytesIn = 0;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly keys: ClusterKeys,
    onMessage: (framed: Framed, bytes: number) => void,
    onInvalid: (reason: string) => void,
  ) {
    sub.on('messageBuffer', (channel: Buffer, frame: Buffer) => {
      const leaderChannel = channel.toString('utf8') === this.channel('leader');
      if (leaderChannel) this.leaderBytesIn += frame.byteLength;
      let framed: Framed;
      try {
        framed = decodeFrame(frame);
      } catch (e) {
        onInvalid((e as Error).message);
        return;
      }
      onMessage(framed, frame.byteLength);
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

  /** Publishes; resolves with the frame's size in bytes. */
  async send(to: Audience, framed: Framed): Promise<number> {
    const frame = encodeFrame(framed);
    await this.pub.publish(this.channel(to), frame);
    return frame.byteLength;
  }

  private channel(audience: Audience): string {
    return `${this.keys.channel}:${audience}`;
  }
}
