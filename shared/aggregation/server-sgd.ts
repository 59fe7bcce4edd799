import {
  assertFinitePositive,
  assertSameLength,
  assertUnitInterval,
  stateVector,
  type OptimizerState,
} from './optimizer-state.js';
import type { ServerOptimizer } from './types.js';

/**
 * Server-side SGD with optional momentum: learningRate 1 and momentum 0 is plain FedAvg,
 * momentum > 0 is FedAvgM (Hsu et al. 2019). Flower's FedAvgM defaults: server lr 1.0, momentum 0.
 */
export class ServerSgd implements ServerOptimizer {
  readonly name: string;
  private velocity: Float32Array | undefined;

  constructor(
    private readonly learningRate = 1.0,
    private readonly momentum = 0,
  ) {
    assertFinitePositive('server learning rate', learningRate);
    assertUnitInterval('server momentum', momentum);
    this.name = momentum > 0 ? 'fedavgm' : 'fedavg';
  }

  step(weights: Float32Array, delta: Float32Array): Float32Array {
    if (weights.length !== delta.length) throw new Error(`delta has ${delta.length} values, weights ${weights.length}`);
    const out = new Float32Array(weights.length);
    if (this.momentum > 0) {
      const v = (this.velocity ??= new Float32Array(weights.length));
      assertSameLength('momentum velocity', v, weights);
      for (let i = 0; i < out.length; i++) {
        v[i] = this.momentum * v[i] + delta[i];
        out[i] = weights[i] + this.learningRate * v[i];
      }
    } else {
      for (let i = 0; i < out.length; i++) out[i] = weights[i] + this.learningRate * delta[i];
    }
    return out;
  }

  state(): OptimizerState {
    return this.velocity ? { velocity: this.velocity.slice() } : {};
  }

  /** An empty state resets the velocity (fresh run or momentum 0). */
  restore(state: OptimizerState): void {
    this.velocity = 'velocity' in state ? stateVector(this.name, state, 'velocity') : undefined;
  }
}
