/**
 * The import rules of docs/architecture.md, checked by `npm run lint`: the fronts over the server, the
 * server over the sessions, the sessions over the arbiter, a device layer below sessions and profiler, a
 * protocol everyone may use and that uses none of them, and no cycles.
 */
const folder = (name) => `^src/${name}/`;
const forbid = (name, from, to, comment) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'Modules of src/ never import each other in a circle.', from: { path: '^src/' }, to: { circular: true } },
    forbid('no-bench-or-test-in-src', '^src/', '^(bench|test)/', 'The product never imports the bench or the tests.'),
    forbid('protocol-imports-none', folder('protocol'), '^src/(?!protocol/)', 'protocol is imported by everyone and imports none of them.'),
    forbid('policies-are-pure', folder('arbiter/policies'), '^src/(?!arbiter/(layout|policies/))', 'Policies import only the layout constants and types.'),
    forbid('arbiter-below-everything', folder('arbiter'), '^src/(?!arbiter/|protocol/)', 'The arbiter imports nothing above it.'),
    forbid('device-below-workers-and-profiler', folder('device'), '^src/(?!device/|protocol/)', 'The device layer imports no layer above it.'),
    forbid('onnx-below-workers-and-profiler', folder('onnx'), '^src/(?!onnx/|protocol/)', 'The ONNX engine (onnxruntime, graphs, segments) imports only the protocol.'),
    forbid('models-know-no-arbiter', folder('models'), '^src/(arbiter|workers|server|http|grpc|profiler|cli)/', 'Models know nothing of the arbiter or of sessions.'),
    forbid('profiler-below-workers', folder('profiler'), '^src/(workers|server|http|grpc|cli)/', 'The profiler is used by sessions, never the other way round.'),
    forbid('workers-below-server', folder('workers'), '^src/(server|http|grpc|cli)/', 'Session code never imports the server or a front.'),
    forbid('server-below-fronts', folder('server'), '^src/(http|grpc|cli)/', 'The server never imports a front.'),
    forbid('fronts-below-cli', '^src/(http|grpc)/', '^src/cli', 'The fronts never import the command line.'),
    forbid('fronts-reach-arbiter-through-server', '^src/(http|grpc)/', '^src/(arbiter|workers)/', 'The fronts reach the arbiter and the sessions through the server.'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
