import type { EvaluationReport } from '../../shared/protocol/messages.js';
import type { FederatedEvaluation } from '../../shared/protocol/rounds.js';
import type { SecAggClientMessage } from '../../shared/secagg/index.js';
import type { FederatedEvaluationOptions } from '../coordinator-options.js';
import type { Verdict } from './aggregation-protocol.js';
import { FederatedEvaluationRound, skippedEvaluation } from './federated-evaluation.js';
import type { RoundRun } from './round-run.js';
import { SecureEvaluationSession, type SecureEvaluationOptions } from './secure-evaluation.js';

/** Fewest evaluators of a secure evaluation, as of a secure round. */
export const MIN_SECURE_EVALUATORS = 3;

export interface EvaluationRequest {
  version: number;
  weights: Float32Array;
  /** Connected clients that hold held-out data and have not declined. */
  eligible: readonly string[];
  options: FederatedEvaluationOptions;
  /** Hides how many clients evaluate (differential privacy). */
  quiet: boolean;
  /** Classes of the task (the size of the confusion matrix summed securely). */
  numClasses: number;
  log: (line: string) => void;
}

/**
 * Sends the candidate model to the clients the evaluation sampler picks and waits, up to the
 * deadline its run's scheduler scope keeps, for their scores on their own held-out data. The wait
 * is open on `run.evaluation` for reports and departures; it ends when all answered or left, at
 * the deadline, or when the run is stopped. Under secure aggregation (options.secure) the
 * evaluators run a SecAgg+ session instead and the coordinator learns only their sums (see
 * evaluateSecurely). Undefined: nobody could evaluate.
 */
export async function evaluateOnClients(
  run: RoundRun,
  request: EvaluationRequest,
): Promise<{ result: FederatedEvaluation; declined: readonly string[] } | undefined> {
  const { eligible, options, version, weights } = request;
  if (!run.scope.active || eligible.length === 0) return undefined;
  if (eligible.length < options.sampler.minAvailable) {
    const why = `${eligible.length} connected client(s) hold held-out data, ${options.sampler.minAvailable} needed`;
    return { result: skippedEvaluation(why), declined: [] };
  }
  const { round, scope } = run;
  const selected = options.sampler.select([...eligible], round);
  // A secure sum of two would give each of them the other's figures (and the coordinator with either one).
  if (options.secure && selected.length < MIN_SECURE_EVALUATORS) {
    const why = `secure evaluation needs at least ${MIN_SECURE_EVALUATORS} evaluators, ${selected.length} selected`;
    return { result: skippedEvaluation(why), declined: [] };
  }
  request.log(
    `round ${round}: ${options.secure ? 'secure ' : ''}federated evaluation${request.quiet ? '' : ` by ${selected.length} client(s)`}`,
  );
  if (options.secure) return { result: await evaluateSecurely(run, request, selected, options.secure), declined: [] };
  const evaluation = new FederatedEvaluationRound(round, selected, scope.now());
  await new Promise<void>((resolve) => {
    const finish = () => {
      scope.cancel('evaluation');
      run.evaluation = undefined;
      resolve();
    };
    run.evaluation = { round: evaluation, finish };
    scope.at('evaluation', scope.now() + options.timeoutMs, finish);
    const body = { round, version, timeoutMs: options.timeoutMs };
    for (const to of evaluation.selected) scope.send({ event: 'evaluate', to, body, weights });
  });
  return { result: evaluation.result(scope.now()), declined: evaluation.declined };
}

/** A client's score, for the evaluation the current round waits for; refused when none is running. */
export function receiveReport(
  run: Pick<RoundRun, 'evaluation'> | undefined,
  clientId: string,
  report: EvaluationReport,
): Verdict {
  const evaluation = run?.evaluation;
  if (!evaluation) {
    return {
      ok: false,
      code: 'stale-round',
      message: `no evaluation is running (report is for round ${report.round})`,
    };
  }
  const verdict = evaluation.round.receive(clientId, report);
  if (evaluation.round.settled()) evaluation.finish();
  return verdict;
}

/** `clientId` left: the evaluation the current round waits for, if any, stops waiting for it. */
export function evaluatorLeft(
  run: Partial<Pick<RoundRun, 'evaluation' | 'secureEvaluation'>> | undefined,
  clientId: string,
): void {
  const evaluation = run?.evaluation;
  evaluation?.round.drop(clientId);
  if (evaluation?.round.settled()) evaluation.finish();
  run?.secureEvaluation?.session.drop(clientId);
  run?.secureEvaluation?.poke();
}

/**
 * The secure evaluation: one SecAgg+ session among `selected`. The evaluators get the evaluation
 * timeout to score the model and advertise their keys, each later stage a phase timeout; a stage
 * closes early once everyone it waits for answered or left. The wait is open on
 * `run.secureEvaluation` for stage messages and departures.
 */
async function evaluateSecurely(
  run: RoundRun,
  request: EvaluationRequest,
  selected: readonly string[],
  secure: SecureEvaluationOptions,
): Promise<FederatedEvaluation> {
  const { round, scope } = run;
  const session = new SecureEvaluationSession(round, selected, request.numClasses, secure, scope.now());
  let wake: (stopped: boolean) => void = () => undefined;
  run.secureEvaluation = {
    session,
    poke: () => {
      if (session.ready()) wake(false);
    },
    finish: () => wake(true),
  };
  try {
    for (const message of session.begin(request.version, request.weights, request.options.timeoutMs))
      scope.send(message);
    let deadline = scope.now() + request.options.timeoutMs;
    while (!session.settled() && scope.active) {
      const stopped = await new Promise<boolean>((resolve) => {
        wake = (stop) => {
          wake = () => undefined;
          scope.cancel('evaluation');
          resolve(stop);
        };
        scope.at('evaluation', deadline, () => wake(false));
        // No check of scope.active here: the loop condition just found it active, with no await since.
        if (session.ready()) wake(false);
      });
      if (stopped || !scope.active) break;
      for (const message of await session.closeStage()) scope.send(message);
      deadline = scope.now() + secure.phaseTimeoutMs;
    }
  } finally {
    run.secureEvaluation = undefined;
  }
  session.expire();
  const failure = session.failure();
  request.log(
    failure === undefined
      ? `round ${round}: secure federated evaluation: unmasked the sums of ${session.result(scope.now()).reported.length} client(s)`
      : `round ${round}: secure federated evaluation failed: ${failure}`,
  );
  return session.result(scope.now());
}

/** A stage message of the secure evaluation the current round runs; refused when none is running. */
export function receiveSecureEvaluation(
  run: Pick<RoundRun, 'secureEvaluation'> | undefined,
  clientId: string,
  message: SecAggClientMessage,
): Verdict {
  const evaluation = run?.secureEvaluation;
  if (!evaluation) {
    return {
      ok: false,
      code: 'stale-round',
      message: `no secure evaluation is running (message is for round ${message.round})`,
    };
  }
  const verdict = evaluation.session.receive(clientId, message);
  evaluation.poke();
  return verdict;
}
