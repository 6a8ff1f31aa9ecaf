// Test projects: `unit` (pure, no infrastructure) and `integration` (real Kafka, registry and
// ClickHouse, brought up once by the global setup through the provider chain in test/infra).
import { defineConfig } from 'vitest/config'

const shared = { resolve: { conditions: ['source'] }, ssr: { resolve: { conditions: ['source'] } } }

export default defineConfig({
  test: {
    // The JSON report feeds the plain "N passed, N failed" line that .ci/run prints.
    reporters: ['default', ['json', { outputFile: '.local/test-results.json' }]],
    projects: [
      {
        ...shared,
        test: {
          name: 'unit',
          root: '.',
          include: ['libs/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.e2e.test.ts', '**/node_modules/**'],
        },
      },
      {
        ...shared,
        test: {
          name: 'integration',
          root: '.',
          include: ['libs/*/src/**/*.int.test.ts', 'services/*/src/**/*.int.test.ts', 'test/**/*.e2e.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/infra/global-setup.ts'],
          // chdb binds one data directory per process: every file gets its own process.
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
