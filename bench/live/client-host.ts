/**
 * A child process of the live secure-aggregation bench hosting many real NodeClients, so the
 * clients' work (masking, sharing, socket I/O) runs outside the coordinator's process. Driven
 * over the fork IPC channel (host-messages.ts); clients train with the synthetic trainer.
 */
import * as tf from '@tensorflow/tfjs';
import { NodeClient } from '../../client/node-client.js';
import type { Progress } from '../../client/progress.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { generateIdentity, type IdentityKeyPair } from '../../shared/secagg/index.js';
import type { DropPlan, FromHost, ToHost } from './host-messages.js';
import { syntheticTrainer } from './synthetic-trainer.js';
import { errorMessage } from '../../shared/error-message.js';

type Connect = Extract<ToHost, { kind: 'connect' }>;

interface Hosted {
  name: string;
  index: number;
  identity: IdentityKeyPair;
  client: NodeClient;
  done: Promise<void>;
  dropped: boolean;
  /** Secure messages sent per round (stage names as the client API gives them). */
  sent: Map<number, string[]>;
}

/** The last lines of every client, shown when one fails. */
const TAIL = 5;

function send(message: FromHost): void {
  process.send!(message);
}

let session: Connect | undefined;
let plan: DropPlan = { round: 0, drops: {} };
const hosted = new Map<string, Hosted>();

function quietProgress(tail: string[]): Progress {
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
  };
  return { line: keep, step: () => undefined, end: keep };
}

/** Disconnects `h` as planned, once. */
function drop(h: Hosted, round: number, stage: string): void {
  if (h.dropped) return;
  h.dropped = true;
  h.client.stop();
  send({ kind: 'dropped', name: h.name, round, stage });
}

function start(s: Connect, name: string, index: number, identity: IdentityKeyPair): Hosted {
  const tail: string[] = [];
  const sent = new Map<number, string[]>();
  const h = { name, index, identity, dropped: false, sent } as Hosted;
  h.client = new NodeClient({
    server: s.url,
    token: s.token,
    name,
    identity,
    data: {
      x: new Float32Array(s.inputShape.reduce((a, b) => a * b, 1)),
      y: new Int32Array(1),
      n: 1,
      inputShape: s.inputShape,
      numClasses: s.numClasses,
    },
    progress: quietProgress(tail),
    reconnectDelayMs: 200,
    reconnectDelayMaxMs: 2_000,
    ackTimeoutMs: 600_000,
    trainer: syntheticTrainer(index, s.seed),
    transformUpdate: (delta, round) => {
      if (!s.secure && plan.round === round && name in plan.drops) drop(h, round, 'upload');
      return delta;
    },
    secAggBeforeSend: (stage, round) => {
      const stages = sent.get(round) ?? [];
      sent.set(round, [...stages, stage]);
      if (plan.round === round && plan.drops[name] === stages.length) drop(h, round, stage);
    },
  });
  h.done = h.client.run();
  h.done.catch((e: unknown) =>
    send({ kind: 'failed', message: `client ${name}: ${errorMessage(e)}; last lines: ${tail.join(' | ')}` }),
  );
  return h;
}

async function stopAll(): Promise<void> {
  for (const h of hosted.values()) h.client.stop();
  await Promise.all([...hosted.values()].map((h) => h.done.catch(() => undefined)));
  hosted.clear();
}

async function handle(command: ToHost): Promise<void> {
  switch (command.kind) {
    case 'connect': {
      if (hosted.size > 0) throw new Error('connect while clients are still connected');
      session = command;
      plan = { round: 0, drops: {} };
      for (const { name, index } of command.clients) hosted.set(name, start(command, name, index, generateIdentity()));
      break;
    }
    case 'plan':
      plan = command.plan;
      break;
    case 'restore': {
      const s = session;
      if (!s) throw new Error('restore before connect');
      for (const h of [...hosted.values()].filter((x) => x.dropped)) {
        await h.done.catch(() => undefined);
        hosted.set(h.name, start(s, h.name, h.index, h.identity));
      }
      break;
    }
    case 'stages': {
      const longest = [...hosted.values()]
        .map((h) => h.sent.get(command.round) ?? [])
        .reduce((a, b) => (b.length > a.length ? b : a), []);
      send({ kind: 'replied', command: command.kind, stages: longest });
      return;
    }
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ kind: 'replied', command: command.kind, cpuS: (user + system) / 1e6 });
      return;
    }
    case 'disconnect':
      await stopAll();
      session = undefined;
      break;
    case 'exit':
      await stopAll();
      // Open handles (tfjs, timers) must not keep the process alive once the bench is done with it.
      process.send!({ kind: 'replied', command: command.kind } satisfies FromHost, () => process.exit(0));
      return;
    default: {
      const never: never = command;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
  send({ kind: 'replied', command: command.kind });
}

await setupBackend('cpu', { log: () => undefined });
// Quiets tfjs's advice to install tfjs-node: these processes never train.
tf.env().set('PROD', true);
let queue = Promise.resolve();
process.on('message', (command: ToHost) => {
  queue = queue
    .then(() => handle(command))
    .catch((e: unknown) => send({ kind: 'refused', command: command.kind, message: errorMessage(e) }));
});
send({ kind: 'ready' });
