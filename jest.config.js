// Unit tests live in packages/*/test, integration tests (real containerd, real sockets) in e2e/test.
// Tests run on the TypeScript sources; `make typecheck` checks types, so ts-jest only transpiles.
const moduleNameMapper = {
  '^@crisp/(api|containerd|registry|server|metrics-exporter)$': '<rootDir>/packages/$1/src',
  '^@crisp/e2e$': '<rootDir>/e2e/src',
};
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
};
const common = { rootDir: __dirname, testEnvironment: 'node', moduleNameMapper, transform };

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/e2e/test/**/*.test.ts'],
      slowTestThreshold: 30,
    },
  ],
};
