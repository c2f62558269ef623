// `npm start` runs the compiled node (dist/app/main.js). This runs before it (prestart) and
// compiles only when a source under app/ or a tsconfig is newer than the last build, so a fresh
// clone or an edited source gets a build and an unchanged tree starts at once. Plain JavaScript:
// it must run before anything is compiled.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repo = resolve(new URL('..', import.meta.url).pathname);
const stamp = join(repo, 'dist', '.build-stamp');

function newest(path) {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const sources = [join(repo, 'app'), join(repo, 'tsconfig.json'), join(repo, 'tsconfig.build.json'), join(repo, 'package-lock.json')];
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : -1;
if (built < 0 || sources.some((path) => existsSync(path) && newest(path) > built)) {
  process.stderr.write('building dist/ (npm run build)\n');
  execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json')], { stdio: 'inherit', cwd: repo });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
