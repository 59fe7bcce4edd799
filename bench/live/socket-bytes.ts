import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';

export interface ByteCount {
  /** Bytes the peers sent to this process. */
  read: number;
  /** Bytes this process sent to the peers. */
  written: number;
}

interface Accepted {
  socket: Socket;
}

/**
 * Bytes through every TCP connection this process accepts (payload above TCP: HTTP upgrade,
 * WebSocket framing, socket.io packets), between mark() and since(). Connections that close in
 * between still count.
 */
export class ServerSocketBytes {
  private readonly sockets = new Set<Socket>();
  private base = new Map<Socket, ByteCount>();
  private readonly onAccept = (message: unknown) => void this.sockets.add((message as Accepted).socket);

  constructor() {
    subscribe('net.server.socket', this.onAccept);
  }

  /** Starts a measurement; connections closed before it are forgotten. */
  mark(): void {
    for (const s of this.sockets) if (s.destroyed) this.sockets.delete(s);
    this.base = new Map([...this.sockets].map((s) => [s, { read: s.bytesRead, written: s.bytesWritten }]));
  }

  since(): ByteCount {
    let read = 0;
    let written = 0;
    for (const s of this.sockets) {
      const b = this.base.get(s);
      read += s.bytesRead - (b?.read ?? 0);
      written += s.bytesWritten - (b?.written ?? 0);
    }
    return { read, written };
  }

  close(): void {
    unsubscribe('net.server.socket', this.onAccept);
  }
}
