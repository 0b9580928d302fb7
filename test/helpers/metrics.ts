/** A running switch's metrics, read as its /metrics endpoint serves them. */

/**
 * The value of one sample (`name`, and `labels` as they print: `reason="no_session"`) on the
 * metrics port, or 0 when the switch has not counted it yet.
 */
export async function metricValue(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const prefix = `${name}${labels === '' ? '' : `{${labels}}`} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}
