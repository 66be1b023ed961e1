// A stand-in for onnxruntime-node (loaded through ATTENTION_LENS_NATIVE_BINDING by
// test/unit/nativeBackend.test.ts): the real binding, except that it refuses every model the way
// ONNX Runtime refuses an op its build has no kernel for.
const real = require('onnxruntime-node');

module.exports = {
  ...real,
  InferenceSession: {
    async create() {
      throw new Error("Could not find an implementation for Softmax(13) node with name '/attn/Softmax'");
    },
  },
};
