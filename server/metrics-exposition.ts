import { collectDefaultMetrics, Registry } from 'prom-client';

export type MetricsAccess = 'public' | 'admin';

/**
 * What GET /metrics shows, in prom-client registries of this coordinator's own (never prom-client's
 * global one, so two coordinators in one process do not collide). `public` holds what anyone may
 * scrape; `operational` what the drawn clients did and the process's own metrics (prom-client's
 * default ones: CPU, memory, event loop, handles, which follow the connected clients too). With
 * differential privacy on, `operational` is for the admin token only; without it, everyone sees both.
 */
export class MetricsExposition {
  readonly public = new Registry();
  readonly operational = new Registry();
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  constructor(readonly privacyOn: boolean) {
    collectDefaultMetrics({ register: this.operational });
  }

  /** The exposition text for `access`: the public series, plus the operational ones where allowed. */
  async render(access: MetricsAccess): Promise<string> {
    const shown = this.privacyOn && access === 'public' ? this.public : Registry.merge([this.public, this.operational]);
    return shown.metrics();
  }
}
