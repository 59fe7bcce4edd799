#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `fedserve` works from a checkout without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../server/cli.ts');
