import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeZodError, StartRoundsBodySchema } from '../shared/protocol/messages.js';
import { adminRoundList, publicRoundList } from '../shared/protocol/public-rounds.js';
import { readAccess, requireAdmin } from './auth.js';
import { RoundsRefusedError, type Coordinator } from './coordinator.js';
import type { Logger } from './logger.js';
import type { MetricsExposition } from './metrics-exposition.js';
import { HttpError, readJsonBody, sendFailure, sendJson } from './serving/http-io.js';
import { handleServing, type ServingContext } from './serving/routes.js';
import type { WebHandler } from './web/handler.js';

/** Cluster mode: rounds are queued in Redis for whichever node leads; GET /v1/cluster shows the nodes. */
export interface ClusterApi {
  queueRounds(n: number): Promise<{ firstRound: number; pendingRounds: number }>;
  status(): Promise<unknown>;
}

export interface ApiContext {
  coordinator: Coordinator;
  cluster?: ClusterApi;
  metrics: MetricsExposition;
  serving: ServingContext;
  /** The dashboard and browser client pages. */
  web: WebHandler;
  adminToken: string;
  logger: Logger;
}

const MAX_ADMIN_BODY = 16 * 1024;

function requireMethod(req: IncomingMessage, allowed: readonly string[]): void {
  if (!allowed.includes(req.method ?? '')) {
    throw new HttpError(405, `${req.method} is not allowed here; use ${allowed.join(' or ')}`, {
      allow: allowed.join(', '),
    });
  }
}

async function rounds(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): Promise<void> {
  requireMethod(req, ['GET', 'POST']);
  if (req.method === 'GET') {
    const list = ctx.coordinator.rounds();
    sendJson(res, 200, readAccess(req, ctx.adminToken) === 'admin' ? adminRoundList(list) : publicRoundList(list));
    return;
  }
  requireAdmin(req, ctx.adminToken);
  const parsed = StartRoundsBodySchema.safeParse(await readJsonBody(req, MAX_ADMIN_BODY));
  if (!parsed.success) throw new HttpError(400, `invalid body: ${describeZodError(parsed.error)}`);
  if (ctx.cluster) {
    const { firstRound, pendingRounds } = await ctx.cluster.queueRounds(parsed.data.rounds);
    ctx.logger.info(
      { rounds: parsed.data.rounds, firstRound },
      `admin queued ${parsed.data.rounds} round(s) for the cluster`,
    );
    sendJson(res, 202, { queued: parsed.data.rounds, firstRound, pendingRounds });
    return;
  }
  let firstRound: number;
  try {
    firstRound = ctx.coordinator.startRounds(parsed.data.rounds);
  } catch (e) {
    if (e instanceof RoundsRefusedError) throw new HttpError(409, e.message);
    throw e;
  }
  ctx.logger.info({ rounds: parsed.data.rounds, firstRound }, `admin queued ${parsed.data.rounds} round(s)`);
  sendJson(res, 202, { queued: parsed.data.rounds, firstRound, pendingRounds: ctx.coordinator.pendingRounds() });
}

async function cluster(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): Promise<void> {
  requireMethod(req, ['GET']);
  if (!ctx.cluster)
    throw new HttpError(404, 'this coordinator runs alone, not as a cluster node (start it with --cluster)');
  sendJson(res, 200, await ctx.cluster.status());
}

function health(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): void {
  requireMethod(req, ['GET']);
  const c = ctx.coordinator;
  // The population is not covered by differential privacy: with it on, only the admin token sees it.
  const population = c.privacyStatus() === undefined || readAccess(req, ctx.adminToken) === 'admin';
  sendJson(res, 200, {
    status: 'ok',
    task: c.task.info.name,
    version: c.currentVersion,
    nextRound: c.nextRoundNumber(),
    pendingRounds: c.pendingRounds(),
    ...(population ? { connectedClients: c.connectedClients().length } : {}),
  });
}

async function metrics(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): Promise<void> {
  requireMethod(req, ['GET']);
  const body = Buffer.from(await ctx.metrics.render(readAccess(req, ctx.adminToken)), 'utf8');
  res.writeHead(200, {
    'content-type': ctx.metrics.contentType,
    'content-length': String(body.byteLength),
  });
  res.end(body);
}

/**
 * The coordinator's REST API: rounds, health and metrics here, the serving routes from
 * server/serving, the web UI from server/web. Every error is `{"error": "..."}` with a 4xx/5xx status.
 */
export async function handleApi(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): Promise<void> {
  const pathname = (req.url ?? '/').split('?')[0];
  try {
    switch (pathname) {
      case '/v1/rounds': {
        await rounds(req, res, ctx);
        return;
      }
      case '/v1/health': {
        health(req, res, ctx);
        return;
      }
      case '/metrics': {
        await metrics(req, res, ctx);
        return;
      }
      case '/v1/cluster': {
        await cluster(req, res, ctx);
        return;
      }
      default:
        if (await handleServing(req, res, ctx.serving)) return;
        if (await ctx.web(req, res)) return;
        throw new HttpError(404, `no such endpoint: ${req.method} ${pathname}`);
    }
  } catch (e) {
    sendFailure(res, e, `${req.method} ${pathname}`, ctx.logger);
  }
}
