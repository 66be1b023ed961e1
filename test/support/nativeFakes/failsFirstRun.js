// A stand-in for onnxruntime-node (loaded through ATTENTION_LENS_NATIVE_BINDING by
// test/unit/nativeBackend.test.ts): the real binding, whose sessions fail their first run the way a
// kernel failure does, and run normally after that.
const real = require('onnxruntime-node');

module.exports = {
  ...real,
  InferenceSession: {
    async create(model, options) {
      const session = await real.InferenceSession.create(model, options);
      let failed = false;
      return {
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        run(feeds, fetches, runOptions) {
          if (!failed) {
            failed = true;
            return Promise.reject(new Error("Non-zero status code returned while running MatMul node. Name:'/MatMul' Status Message: simulated kernel failure"));
          }
          return session.run(feeds, fetches, runOptions);
        },
        release: () => session.release(),
      };
    },
  },
};
