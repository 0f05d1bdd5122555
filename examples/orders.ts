// examples/orders.ts: keeps one row per order, with its latest status, in PostgreSQL.
import { definePipeline, PoisonEventError } from '../actors/pipeline.ts'

interface Order {
  id: string
  status: string
  total: number
}

export default definePipeline<Order>({
  name: 'orders',
  sinks: ['postgres'], // the SQL below is PostgreSQL's; embedded mode refuses to start it, and says so
  migrations: {
    postgres: [
      `create table if not exists orders (
         id text primary key, status text not null, total numeric not null, last_offset bigint not null)`,
    ],
  },
  // Runs once per record, before batching, outside any transaction. Throwing makes it a poison event.
  decode(record) {
    const order = JSON.parse(record.value?.toString() ?? 'null') as Order
    if (typeof order?.id !== 'string') throw new PoisonEventError('an order needs a string id')
    return order
  },
  // Runs inside the batch's transaction, with the watermark: its writes commit exactly once.
  async handle(batch, tx) {
    if (tx.kind !== 'postgres') throw new Error('orders needs PostgreSQL')
    const latest = new Map<string, { order: Order; offset: number }>()
    for (const { value, record } of batch.events)
      latest.set(value.id, { order: value, offset: record.offset })
    const rows = [...latest.values()]
    await tx.sql`
      insert into orders (id, status, total, last_offset)
      select * from unnest(${rows.map((r) => r.order.id)}::text[], ${rows.map((r) => r.order.status)}::text[],
                           ${rows.map((r) => r.order.total)}::numeric[], ${rows.map((r) => r.offset)}::bigint[])
      on conflict (id) do update set status = excluded.status, total = excluded.total,
                                     last_offset = excluded.last_offset`
  },
})
