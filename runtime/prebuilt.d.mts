/** The build's folder, relative to the repository. */
export const PREBUILT_DIR: string
/** The stamp's file name in PREBUILT_DIR. */
export const STAMP: string
/** True when the stamp lists every file the build read, unchanged. */
export function stampMatches(): boolean
/** True when dist/runtime exists and none of the files it was built from changed since. */
export function prebuiltIsFresh(): boolean
/** Runs entry `name` of the build when it is fresh, otherwise `source` through tsx. */
export function runEntry(name: string, source: string): Promise<unknown>
