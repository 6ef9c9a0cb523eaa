// The part of semver (a root devDependency without bundled types) that the
// checks use.
declare module 'semver' {
  const semver: { satisfies(version: string, range: string): boolean };
  export default semver;
}
