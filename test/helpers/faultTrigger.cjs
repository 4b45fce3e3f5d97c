// Preloaded (`node --require`) into a real `serve` process by test/cli/processGuard.test.ts. On SIGUSR2 it makes the
// error named by WTB_TEST_FAULT happen outside any handler of the broker's, carrying secrets the way an axios or
// ioredis error can (in its message and in request options), so the test can check that none is logged.
"use strict";
process.on("SIGUSR2", () => {
  const secret = process.env.WTB_TEST_SECRET ?? "";
  const err = new Error(`test fault https://api.example/cgi-bin/token?access_token=${secret}&x=1 Bearer ${secret}`);
  err.code = "ETESTFAULT";
  err.config = { headers: { Authorization: `Bearer ${secret}` }, params: { secret } };
  switch (process.env.WTB_TEST_FAULT) {
    case "rejection":
      void Promise.reject(err);
      break;
    case "rejection-object":
      void Promise.reject({ config: { headers: { Authorization: `Bearer ${secret}` } } });
      break;
    case "exception":
      process.nextTick(function throwTestFault() {
        throw err;
      });
      break;
  }
});
