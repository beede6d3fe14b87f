/** Builds the inspector UI into inspector/dist; resolves with the folder. */
export function buildInspector(opts?: { quiet?: boolean }): Promise<string>
