/**
 * Makes header names usable as column names the way pandas does, so the names
 * perception reports are the names the generated program sees: a blank name
 * becomes "Unnamed: <position>", a repeated one gets ".1", ".2", ...
 */
export function normalizeColumnNames(header: readonly string[]): string[] {
  const taken = new Set<string>();
  return header.map((raw, index) => {
    const base = raw.trim() === "" ? `Unnamed: ${index}` : raw;
    let name = base;
    for (let suffix = 1; taken.has(name); suffix++) name = `${base}.${suffix}`;
    taken.add(name);
    return name;
  });
}
