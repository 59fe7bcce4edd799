import {
  assertFinitePositive,
  assertSameLength,
  assertUnitInterval,
  stateCount,
  stateVector,
  type OptimizerState,
} from './optimizer-state.js';
import type { ServerOptimizer } from './types.js';

/** Flower's defaults (flwr.serverapp.strategy, Reddi et al. 2021 "Adaptive Federated Optimization"). */
export const FEDADAM_DEFAULTS = { eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const;
export const FEDYOGI_DEFAULTS = { eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const;
export const FEDADAGRAD_DEFAULTS = { eta: 0.1, tau: 1e-3 } as const;

export interface AdaptiveOptions {
  /** Server learning rate. */
  eta: number;
  /** First-moment (momentum) decay. */
  beta1: number;
  /** Second-moment decay (unused by Adagrad, which accumulates). */
  beta2: number;
  /** Adaptivity: added to sqrt(v) so tiny second moments do not blow the step up. */
  tau: number;
}

type Variant = 'adam' | 'yogi' | 'adagrad';

/**
 * FedOpt (Reddi et al.): the aggregated delta is a pseudo-gradient fed to a server-side
 * Adam / Yogi / Adagrad, w += eta_t * m / (sqrt(v) + tau), with m and v starting at zero as in
 * Flower. Moments are kept in float32 so that state() -> restore() resumes bit-exactly.
 */
abstract class AdaptiveServerOptimizer implements ServerOptimizer {
  private m: Float32Array | undefined;
  private v: Float32Array | undefined;
  private steps = 0;

  protected constructor(
    readonly name: string,
    private readonly variant: Variant,
    readonly options: Readonly<AdaptiveOptions>,
  ) {
    assertFinitePositive(`${name} eta`, options.eta);
    assertFinitePositive(`${name} tau`, options.tau);
    assertUnitInterval(`${name} beta1`, options.beta1);
    assertUnitInterval(`${name} beta2`, options.beta2);
  }

  /** The step size for step number t (1-based). */
  private stepSize(t: number): number {
    const { eta, beta1, beta2 } = this.options;
    switch (this.variant) {
      case 'adam':
        // Kingma & Ba's bias-corrected alpha_t, as Flower's FedAdam (which uses t = server_round + 1).
        return (eta * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      case 'yogi':
      case 'adagrad':
        return eta;
      default: {
        const never: never = this.variant;
        throw new Error(`unknown adaptive variant ${String(never)}`);
      }
    }
  }

  step(weights: Float32Array, delta: Float32Array): Float32Array {
    if (weights.length !== delta.length) throw new Error(`delta has ${delta.length} values, weights ${weights.length}`);
    const m = (this.m ??= new Float32Array(weights.length));
    const v = (this.v ??= new Float32Array(weights.length));
    assertSameLength(`${this.name} first moment`, m, weights);
    assertSameLength(`${this.name} second moment`, v, weights);
    const { beta1, beta2, tau } = this.options;
    const t = this.steps + 1;
    const lr = this.stepSize(t);
    const out = new Float32Array(weights.length);
    for (let i = 0; i < out.length; i++) {
      const d = delta[i];
      const d2 = d * d;
      m[i] = beta1 * m[i] + (1 - beta1) * d;
      switch (this.variant) {
        case 'adam':
          v[i] = beta2 * v[i] + (1 - beta2) * d2;
          break;
        case 'yogi':
          v[i] = v[i] - (1 - beta2) * d2 * Math.sign(v[i] - d2);
          break;
        case 'adagrad':
          v[i] = v[i] + d2;
          break;
      }
      out[i] = weights[i] + (lr * m[i]) / (Math.sqrt(v[i]) + tau);
    }
    this.steps = t;
    return out;
  }

  state(): OptimizerState {
    if (!this.m || !this.v) return {};
    return { m: this.m.slice(), v: this.v.slice(), steps: this.steps };
  }

  /** An empty state resets to a fresh optimizer. */
  restore(state: OptimizerState): void {
    if (Object.keys(state).length === 0) {
      this.m = this.v = undefined;
      this.steps = 0;
      return;
    }
    const m = stateVector(this.name, state, 'm');
    const v = stateVector(this.name, state, 'v');
    if (m.length !== v.length) throw new Error(`${this.name} state: 'm' has ${m.length} values, 'v' ${v.length}`);
    this.steps = stateCount(this.name, state, 'steps');
    this.m = m;
    this.v = v;
  }
}

export class FedAdam extends AdaptiveServerOptimizer {
  constructor(options: Partial<AdaptiveOptions> = {}) {
    super('fedadam', 'adam', { ...FEDADAM_DEFAULTS, ...options });
  }
}

export class FedYogi extends AdaptiveServerOptimizer {
  constructor(options: Partial<AdaptiveOptions> = {}) {
    super('fedyogi', 'yogi', { ...FEDYOGI_DEFAULTS, ...options });
  }
}

/** Adagrad without momentum, as Flower fixes beta1 = beta2 = 0. */
export class FedAdagrad extends AdaptiveServerOptimizer {
  constructor(options: Partial<Pick<AdaptiveOptions, 'eta' | 'tau'>> = {}) {
    super('fedadagrad', 'adagrad', { ...FEDADAGRAD_DEFAULTS, ...options, beta1: 0, beta2: 0 });
  }
}
