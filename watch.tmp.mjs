import pg from 'pg';
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', application_name: 'watcher' });
await c.connect();
const until = Date.now() + Number(process.argv[2] ?? 60) * 1000;
while (Date.now() < until) {
  const r = await c.query(`SELECT pid, state, wait_event_type, wait_event, extract(epoch from now() - query_start) * 1000 AS qms, left(query, 40) AS q, backend_type FROM pg_stat_activity WHERE (application_name = 'cynod-switch' AND state <> 'idle' AND now() - query_start > interval '15 ms') OR (backend_type <> 'client backend' AND wait_event IS NOT NULL AND wait_event NOT IN ('WalWriterMain','CheckpointerMain','BgWriterHibernate','BgWriterMain','AutoVacuumMain','LogicalLauncherMain','ArchiverMain'))`);
  for (const x of r.rows) console.log(Date.now(), x.pid, x.backend_type, x.state, x.wait_event_type, x.wait_event, Math.round(x.qms), JSON.stringify(x.q));
  await new Promise((res) => setTimeout(res, 3));
}
await c.end();
