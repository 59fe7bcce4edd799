import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapKernels } from './heap-kernels.js';

const f = Math.fround;

/**
 * Adam on the wasm backend with each variable's update as ONE pass over the heap (our SIMD heap
 * kernel), instead of tf.train.adam's ~13 kernel dispatches and intermediate tensors per variable
 * per step (8% of a seed-CNN step, plus their garbage). Every operation is rounded to float32 in
 * tf.train.adam's order, so the weights are bit-identical to it. The moments live in wasm heap
 * buffers that dispose() frees; the new weights go to a fresh buffer that the variable then points
 * to, so tensors sharing the old buffer (our Identity kernel shares, e.g. FedProx's anchors) keep
 * their values.
 */
export class HeapAdam extends tf.Optimizer {
  static get className(): string {
    return 'Adam';
  }

  private readonly moments: Array<{ m: TensorInfo; v: TensorInfo }> = [];
  /** The backend holding the moments. */
  private backend: BackendWasm | undefined;
  /** beta1^t and beta2^t, kept in float32 as tf.train.adam's scalar variables are. */
  private accBeta1: number;
  private accBeta2: number;

  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
  ) {
    super();
    this.accBeta1 = f(beta1);
    this.accBeta2 = f(beta2);
  }

  applyGradients(variableGradients: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>): void {
    if (tf.getBackend() !== 'wasm') throw new Error('HeapAdam runs on the wasm backend only');
    // The active backend is the wasm one (checked above); tfjs types tf.backend() as the base class.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    const backend = tf.backend() as BackendWasm;
    const entries = Array.isArray(variableGradients)
      ? variableGradients.map(({ name, tensor }) => [name, tensor] as const)
      : Object.entries(variableGradients);
    const b1 = f(this.beta1);
    const b2 = f(this.beta2);
    const c1 = f(1 - this.beta1);
    const c2 = f(1 - this.beta2);
    const eps = f(backend.epsilon());
    const negLr = f(-this.learningRate);
    const oneMinusAcc1 = f(1 - this.accBeta1);
    const oneMinusAcc2 = f(1 - this.accBeta2);
    entries.forEach(([name, gradient], i) => {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`HeapAdam: no variable named '${name}'`);
      if (gradient == null) return;
      if (variable.dtype !== 'float32' || gradient.dtype !== 'float32' || gradient.size !== variable.size)
        throw new Error(`HeapAdam: variable '${name}' and its gradient must be float32 of the same size`);
      const moments = (this.moments[i] ??= {
        m: this.zeros(backend, variable.size),
        v: this.zeros(backend, variable.size),
      });
      const out = backend.makeOutput(variable.shape, 'float32');
      heapKernels(backend).adam(variable, gradient, moments.m, moments.v, out, {
        b1,
        b2,
        c1,
        c2,
        oneMinusAcc1,
        oneMinusAcc2,
        eps,
        negLr,
      });
      const updated = tf.engine().makeTensorFromTensorInfo(out);
      variable.assign(updated);
      updated.dispose();
    });
    this.accBeta1 = f(this.accBeta1 * b1);
    this.accBeta2 = f(this.accBeta2 * b2);
    this.incrementIterations();
  }

  private zeros(backend: BackendWasm, n: number): TensorInfo {
    this.backend = backend;
    const t = backend.makeOutput([n], 'float32');
    (backend.typedArrayFromHeap(t) as Float32Array).fill(0);
    return t;
  }

  /** Frees the moments' heap buffers too: they are no tensors, so nothing else would. */
  override dispose(): void {
    for (const { m, v } of this.moments.splice(0)) {
      this.backend?.disposeData(m.dataId);
      this.backend?.disposeData(v.dataId);
    }
    super.dispose();
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2 };
  }
}
