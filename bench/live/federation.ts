import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCoordinator, type RunningCoordinator } from '../../server/app.js';
import type { Heartbeat } from '../../server/socket-transport.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { lineLogger } from '../../server/logger.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { dropPlan } from './drop-plan.js';
import type { FromHost } from './host-messages.js';
import type { ClientHost } from './hosts.js';
import { ServerSocketBytes, type ByteCount } from './socket-bytes.js';

const JOIN_TOKEN = 'bench-live-join-token';

/**
 * Hundreds of clients share each client process here, so one burst of their crypto can hold a
 * pong back longer than socket.io's 20 s and drop them all; devices of their own would answer at
 * once. Planned dropouts disconnect explicitly, so a long timeout hides none of them.
 */
const HEARTBEAT: Heartbeat = { pingIntervalMs: 25_000, pingTimeoutMs: 600_000 };

export interface FederationOptions {
  clients: number;
  secure: boolean;
  /** A tfjs Layers model.json; the seed CNN when absent. */
  model?: string;
  phaseTimeoutMs: number;
  trainingTimeoutMs: number;
  /** How long all clients may take to connect. */
  connectTimeoutMs: number;
  seed: number;
  /** The secure messages a client sends per round, if known; else learnt in the first round, which must have no dropouts. */
  stages?: readonly string[];
  log: (line: string) => void;
}

/** One measured round, seen from the coordinator's process. */
export interface MeasuredRound {
  record: RoundRecord;
  /** CPU seconds of this process (the coordinator) from the round's start to its record. */
  coordinatorCpuS: number;
  /** Bytes through the coordinator's sockets in the same span: read = sent by clients. */
  bytes: ByteCount;
  /** CPU seconds of the client hosts in the same span: all the clients' work. */
  clientsCpuS: number;
  dropouts: Extract<FromHost, { kind: 'dropped' }>[];
}

/**
 * A real coordinator in this process (startCoordinator, socket.io on 127.0.0.1) and its clients,
 * real NodeClients spread evenly over the client hosts. Rounds run one at a time, each after every
 * client is connected, so what a round costs the coordinator can be read off this process.
 */
export class Federation {
  /** The secure messages a client sends per round (none: plaintext, or not learnt yet). */
  private stageNames: readonly string[];

  private constructor(
    private readonly o: FederationOptions,
    private readonly running: RunningCoordinator,
    private readonly hosts: readonly ClientHost[],
    private readonly names: readonly string[],
    private readonly meter: ServerSocketBytes,
    private readonly dataDir: string,
  ) {
    this.stageNames = o.stages ?? [];
  }

  /** Parameters of the global model: a secure client masks this many words plus its weight's. */
  get parameters(): number {
    return this.running.coordinator.currentWeights().length;
  }

  /** The secure messages a client sends per round, as the client API names them. */
  get stages(): readonly string[] {
    return this.stageNames;
  }

  static async start(hosts: readonly ClientHost[], o: FederationOptions): Promise<Federation> {
    const dataDir = await mkdtemp(join(tmpdir(), 'fedserve-bench-live-'));
    const config = parseCoordinatorConfig(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir,
        joinToken: JOIN_TOKEN,
        ...(o.model ? { model: o.model } : {}),
        rounds: { start: 0, selectionWindowMs: 0, trainingTimeoutMs: o.trainingTimeoutMs, minResults: 1 },
        strategy: { sampler: { minClients: o.clients, maxClients: o.clients } },
        secureAggregation: { enabled: o.secure, phaseTimeoutMs: o.phaseTimeoutMs },
      },
      'live secure-aggregation bench',
    );
    const meter = new ServerSocketBytes();
    let running: RunningCoordinator | undefined;
    try {
      running = await startCoordinator(config, { logger: lineLogger(o.log), heartbeat: HEARTBEAT });
      const { inputShape, numClasses } = running.coordinator.task.info;
      const names = Array.from({ length: o.clients }, (_, i) => `c${String(i).padStart(4, '0')}`);
      const federation = new Federation(o, running, hosts, names, meter, dataDir);
      await Promise.all(
        hosts.map((h, j) =>
          h.request({
            kind: 'connect',
            url: running!.url,
            token: JOIN_TOKEN,
            clients: names.map((name, index) => ({ name, index })).filter((_, index) => index % hosts.length === j),
            secure: o.secure,
            inputShape,
            numClasses,
            seed: o.seed,
          }),
        ),
      );
      await federation.allConnected();
      return federation;
    } catch (e) {
      meter.close();
      await running?.close();
      await rm(dataDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Runs one round in which `rate` of the clients drop (see dropPlan) and measures it. */
  async round(rate: number): Promise<MeasuredRound> {
    const { coordinator } = this.running;
    const round = coordinator.nextRoundNumber();
    const learn = this.o.secure && this.stageNames.length === 0;
    if (rate > 0 && learn)
      throw new Error('secure dropouts need the stages: run a round without dropouts first, or pass them');
    const plan = dropPlan(this.names, rate, round, this.stageNames.length, this.o.seed);
    await Promise.all(this.hosts.map((h) => h.request({ kind: 'plan', plan })));
    await this.allConnected();
    // Late messages of the previous round (unmasking shares past the threshold) settle first.
    await sleep(100);
    const closed = new Promise<RoundRecord>((resolve) => {
      const onRound = (r: RoundRecord) => {
        if (r.round !== round) return;
        coordinator.off('round', onRound);
        resolve(r);
      };
      coordinator.on('round', onRound);
    });
    const clientsCpu = await this.clientsCpuS();
    this.meter.mark();
    const cpu = process.cpuUsage();
    coordinator.startRounds(1);
    const record = await closed;
    const used = process.cpuUsage(cpu);
    const bytes = this.meter.since();
    const clientsCpuS = (await this.clientsCpuS()) - clientsCpu;
    if (learn) await this.learnStages(round);
    const dropouts = this.hosts.flatMap((h) => h.takeDropouts());
    await Promise.all(this.hosts.map((h) => h.request({ kind: 'restore' })));
    return { record, coordinatorCpuS: (used.user + used.system) / 1e6, bytes, clientsCpuS, dropouts };
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.request({ kind: 'disconnect' }).catch(() => undefined)));
    await this.running.close();
    this.meter.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  private async learnStages(round: number): Promise<void> {
    const replies = await Promise.all(this.hosts.map((h) => h.request({ kind: 'stages', round })));
    this.stageNames = replies.map((r) => r.stages ?? []).reduce((a, b) => (b.length > a.length ? b : a), []);
  }

  private async clientsCpuS(): Promise<number> {
    const replies = await Promise.all(this.hosts.map((h) => h.request({ kind: 'cpu' })));
    return replies.reduce((sum, r) => sum + (r.cpuS ?? 0), 0);
  }

  /** Waits until every client is connected; a client failure or the connect timeout ends the run. */
  private async allConnected(): Promise<void> {
    const { coordinator } = this.running;
    const deadline = Date.now() + this.o.connectTimeoutMs;
    while (coordinator.connectedClients().length < this.o.clients) {
      const failures = this.hosts.flatMap((h) => h.takeFailures());
      if (failures.length > 0)
        throw new Error(`${failures.length} client(s) failed: ${failures.slice(0, 3).join('; ')}`);
      if (Date.now() > deadline) {
        throw new Error(
          `only ${coordinator.connectedClients().length} of ${this.o.clients} clients connected within ${this.o.connectTimeoutMs} ms`,
        );
      }
      await sleep(20);
    }
  }
}
