import type { ServerOptimizer } from './types.js';

/**
 * Server-side SGD with optional momentum: learningRate 1 and momentum 0 is plain FedAvg,
 * momentum > 0 is FedAvgM (Hsu et al. 2019).
 */
export class ServerSgd implements ServerOptimizer {
  readonly name: string;
  private velocity: Float32Array | undefined;

  constructor(
    private readonly learningRate = 1.0,
    private readonly momentum = 0,
  ) {
    this.name = momentum > 0 ? 'fedavgm' : 'fedavg';
  }

  step(weights: Float32Array, delta: Float32Array): Float32Array {
    if (weights.length !== delta.length) throw new Error(`delta has ${delta.length} values, weights ${weights.length}`);
    const out = new Float32Array(weights.length);
    if (this.momentum > 0) {
      const v = (this.velocity ??= new Float32Array(weights.length));
      for (let i = 0; i < out.length; i++) {
        v[i] = this.momentum * v[i] + delta[i];
        out[i] = weights[i] + this.learningRate * v[i];
      }
    } else {
      for (let i = 0; i < out.length; i++) out[i] = weights[i] + this.learningRate * delta[i];
    }
    return out;
  }

  state(): Record<string, Float32Array | number> {
    return this.velocity ? { velocity: this.velocity.slice() } : {};
  }

  restore(state: Record<string, Float32Array | number>): void {
    const v = state.velocity;
    this.velocity = v instanceof Float32Array ? v.slice() : undefined;
  }
}
