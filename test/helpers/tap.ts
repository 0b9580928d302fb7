import t from 'tap';

/** The type of the `t` a subtest callback receives. */
export type TestContext = Parameters<Parameters<typeof t.test>[0]>[0];
