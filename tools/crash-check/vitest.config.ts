import { vmloopTest } from '@vmloop/test-kit/vitest';
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: vmloopTest });
