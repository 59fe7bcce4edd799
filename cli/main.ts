import { parseArgs } from 'node:util';
import { errorMessage } from '../shared/error-message.js';
import { CLIENT_USAGE } from './client-usage.js';
import { SIMULATE_USAGE } from '../simulations/lab/simulate-usage.js';
import { AUDIT_USAGE } from '../simulations/audit/audit-usage.js';
import { SERVER_FLAGS, serverConfigFromArgs } from './server-args.js';
import { EXPORT_USAGE } from './export-usage.js';
import { createLogger } from '../server/logger.js';

// Each command imports what it runs when it runs, so `fedserve help` (and a bad command) answers
// without loading TensorFlow.js, which alone takes most of a second.

const SERVER_USAGE = `fedserve server [--config FILE] [options]

${Object.entries(SERVER_FLAGS)
  .map(([flag, spec]) => `  --${`${flag} ${spec.arg}`.padEnd(26)}${spec.help}`)
  .join('\n')}
  --${'join-token-file FILE'.padEnd(26)}read the join token from the first line of FILE (kept out of the process list)
  --${'admin-token-file FILE'.padEnd(26)}read the admin token from the first line of FILE
  --${'config FILE'.padEnd(26)}JSON config (sections: rounds, training, strategy, privacy, ...); flags override it
  --${'backend NAME'.padEnd(26)}TensorFlow.js backend: tensorflow, wasm or cpu (default: best available)`;

const USAGE = `fedserve: federated learning as a service

Commands:
  fedserve server ...   run the coordinator (rounds over socket.io, REST API and model serving)
  fedserve client ...   run a client node that trains on local data
  fedserve demo         coordinator + 4 MNIST client processes, 5 rounds, predictions over REST
  fedserve simulate ... simulation lab: N socket.io clients on partitioned MNIST, CSV + plot + table
  fedserve audit ...    canary audit of DP configurations: empirical epsilon lower bound vs the accountant's
  fedserve export ...   write a committed version as a tfjs model, optionally uint16/uint8-quantized and pruned
  fedserve help         this text

${SERVER_USAGE}

${CLIENT_USAGE}

fedserve demo [--clients N] [--rounds N] [--backend NAME] [--keep-logs] [--dp Z [--dp-target-epsilon EPS]]
              [--secure-aggregation on|off]
  --secure-aggregation  SecAgg+: the coordinator sees only the sum of the updates (default on with 3 or
                        more clients, off with fewer)
  --dp Z                central differential privacy with noise multiplier Z (clip norm 1, delta 1e-5);
                        the table then shows the epsilon spent after each round
  --dp-target-epsilon   stop before a round would pass this epsilon (default 100)

${SIMULATE_USAGE}

${AUDIT_USAGE}

${EXPORT_USAGE}

Errors print one line naming the problem and exit 1; FEDSERVE_DEBUG=1 adds the stack trace.`;

async function serverCommand(argv: string[]): Promise<number> {
  const config = serverConfigFromArgs(argv, process.env);
  // One logger for the whole server, the backend report included: stdout stays one log format.
  const logger = createLogger(config.log);
  const [{ setupBackend }, { startCoordinator }] = await Promise.all([
    import('../shared/engine/backend.js'),
    import('../server/app.js'),
  ]);
  await setupBackend(undefined, { log: (message) => logger.info(message) });
  const running = await startCoordinator(config, { logger });
  // Listen before the last start-up line: a supervisor may signal as soon as it reads it.
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // A generated token is a warning (the config lacks one), so it shows at --log-level warn too.
  if (!config.joinToken && !config.clientTokensFile)
    logger.warn(
      `join token (generated; set --join-token-file, --join-token or FEDSERVE_JOIN_TOKEN to fix it): ${running.joinToken}`,
    );
  if (!config.adminToken)
    logger.warn(
      `admin token (generated; set --admin-token-file, --admin-token or FEDSERVE_ADMIN_TOKEN to fix it): ${running.adminToken}`,
    );
  await stop;
  logger.info('shutting down');
  await running.close();
  return 0;
}

async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      clients: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '5' },
      backend: { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      dp: { type: 'string' },
      'dp-target-epsilon': { type: 'string' },
      'secure-aggregation': { type: 'string' },
    },
  });
  const secureFlag = values['secure-aggregation'];
  if (secureFlag !== undefined && secureFlag !== 'on' && secureFlag !== 'off')
    throw new Error(`--secure-aggregation takes on or off, got '${secureFlag}'`);
  const dpNoise = values.dp === undefined ? undefined : Number(values.dp);
  if (dpNoise !== undefined && !(dpNoise > 0 && Number.isFinite(dpNoise)))
    throw new Error(`--dp needs a positive noise multiplier, got '${values.dp}'`);
  const dpTarget = values['dp-target-epsilon'] === undefined ? undefined : Number(values['dp-target-epsilon']);
  if (dpTarget !== undefined && !(dpTarget > 0 && Number.isFinite(dpTarget))) {
    throw new Error(`--dp-target-epsilon needs a positive number, got '${values['dp-target-epsilon']}'`);
  }
  if (dpTarget !== undefined && dpNoise === undefined) throw new Error('--dp-target-epsilon needs --dp Z');
  const clients = Number(values.clients);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(clients) || clients < 1 || clients > 16)
    throw new Error(`--clients must be an integer in 1..16, got '${values.clients}'`);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds must be a positive integer, got '${values.rounds}'`);
  const [{ setupBackend }, { runDemo }] = await Promise.all([
    import('../shared/engine/backend.js'),
    import('./demo.js'),
  ]);
  await setupBackend();
  return runDemo({
    clients,
    rounds,
    keepLogs: values['keep-logs'],
    ...(secureFlag !== undefined ? { secureAggregation: secureFlag === 'on' } : {}),
    ...(dpNoise !== undefined ? { dpNoise } : {}),
    ...(dpTarget !== undefined ? { dpTargetEpsilon: dpTarget } : {}),
    ...(values.backend ? { backend: values.backend } : {}),
    out: (line) => console.log(line),
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      return serverCommand(rest);
    case 'client':
      return (await import('./client-command.js')).clientCommand(rest, process.env);
    case 'demo':
      return demoCommand(rest);
    case 'simulate':
      return (await import('../simulations/lab/simulate.js')).simulateCommand(rest);
    case 'audit':
      return (await import('../simulations/audit/command.js')).auditCommand(rest);
    case 'export':
      return (await import('./export-command.js')).exportCommand(rest, (line) => console.log(line));
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    case undefined:
      console.error(USAGE);
      return 2;
    default:
      console.error(`unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Errors name what is wrong; the stack trace is for debugging only.
    const debug = process.env.FEDSERVE_DEBUG && e instanceof Error ? e.stack : undefined;
    console.error(`fedserve: ${debug ?? errorMessage(e)}`);
    process.exit(1);
  },
);
