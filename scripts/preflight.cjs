// Run first by every npm script, before anything that needs Node 22 is loaded. Kept to syntax
// that any Node can parse, so that an old one gets this one line instead of a stack trace.
var major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    "Node.js 22 or newer is needed (this is " +
      process.version +
      "): install it with `nvm install 22` or from https://nodejs.org, or run `npm install --prefix .tools node@22` and put .tools/node_modules/.bin first on PATH (as .ci/run does).\n",
  );
  process.exit(1);
}
