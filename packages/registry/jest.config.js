// Temporary stand-alone config to run this package's unit tests before the root jest config
// knows about it: `npx jest -c packages/registry/jest.config.js`.
const path = require('node:path');

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { tsconfig: path.join(__dirname, '../../tsconfig.test.json'), isolatedModules: true },
    ],
  },
};
