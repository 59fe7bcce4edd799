import type { EvaluationReport } from '../../shared/protocol/messages.js';
import type { FederatedEvaluation } from '../../shared/protocol/rounds.js';
import type { FederatedEvaluationOptions } from '../coordinator-options.js';
import type { Verdict } from './aggregation-protocol.js';
import { FederatedEvaluationRound, skippedEvaluation } from './federated-evaluation.js';
import type { RoundRun } from './round-run.js';

export interface EvaluationRequest {
  version: number;
  weights: Float32Array;
  /** Connected clients that hold held-out data and have not declined. */
  eligible: readonly string[];
  options: FederatedEvaluationOptions;
  /** Hides how many clients evaluate (differential privacy). */
  quiet: boolean;
  log: (line: string) => void;
}

/**
 * Sends the candidate model to the clients the evaluation sampler picks and waits, up to the
 * deadline its run's scheduler scope keeps, for their scores on their own held-out data. The wait
 * is open on `run.evaluation` for reports and departures; it ends when all answered or left, at
 * the deadline, or when the run is stopped. Undefined: nobody could evaluate.
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
  const evaluation = new FederatedEvaluationRound(round, options.sampler.select([...eligible], round), scope.now());
  request.log(
    `round ${round}: federated evaluation${request.quiet ? '' : ` by ${evaluation.selected.length} client(s)`}`,
  );
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
export function evaluatorLeft(run: Pick<RoundRun, 'evaluation'> | undefined, clientId: string): void {
  const evaluation = run?.evaluation;
  evaluation?.round.drop(clientId);
  if (evaluation?.round.settled()) evaluation.finish();
}
