import type { ClientLink, LinkMessage } from '../client-link.js';
import { EVENTS } from '../../shared/protocol/events.js';
import type { CoordinatorServer } from '../client-events.js';

/**
 * A client connected to another cluster node, as the leader's coordinator sees it. The client's
 * own node sends it the welcome, the training tasks and the round's close (edge aggregation), so
 * those are not relayed; closing it (a newer connection with its id joined) goes through
 * socket.io's Redis adapter to the node that holds the connection.
 */
export class RemoteLink implements ClientLink {
  readonly canEvaluate = false;

  constructor(
    readonly id: string,
    readonly node: string,
    readonly connection: string,
    private readonly io: CoordinatorServer,
  ) {}

  send(message: LinkMessage): void {
    switch (message.event) {
      case 'welcome':
      case 'round-closed':
      case 'train':
        return;
      case 'secagg':
      case 'evaluate':
      case 'secure-evaluate':
      case 'secagg-evaluation':
        // Cluster mode refuses secure aggregation and federated evaluation at start (cluster-checks.ts).
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
