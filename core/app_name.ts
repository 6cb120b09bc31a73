/**
 * The application-name rule shared by the server, the CLI and the scraper.
 *
 * Names are the first path segment of every blob key and the `{app}` of the HTTP API, so
 * they must be safe in URLs, blob keys and Kubernetes labels.
 *
 * @module
 */

/** Longest accepted application name (a DNS label). */
export const MAX_APP_NAME_LENGTH = 63;

const APP_NAME = /^[a-z0-9-]+$/;
const ALNUM_ENDS = /^[a-z0-9](?:.*[a-z0-9])?$/;

/** Returns why `name` is not a valid application name, or `undefined` when it is. */
export function appNameProblem(name: string): string | undefined {
  if (name.length === 0) return "app name must not be empty";
  if (name.length > MAX_APP_NAME_LENGTH) {
    return `app name must be at most ${MAX_APP_NAME_LENGTH} characters, got ${name.length}`;
  }
  if (!APP_NAME.test(name)) return `app name ${JSON.stringify(name)} may only contain a-z, 0-9 and '-'`;
  if (!ALNUM_ENDS.test(name)) return `app name ${JSON.stringify(name)} must start and end with a letter or digit`;
  return undefined;
}

/** True when `name` is a DNS label: 1–63 of `a-z`, `0-9`, `-`, starting and ending with a letter or digit. */
export function isValidAppName(name: string): boolean {
  return appNameProblem(name) === undefined;
}
