/**
 * checkout: a shop's checkout flow, the example app's machine. Driven by the shopper (`cart.add`,
 * `cart.remove`, `cart.review`, `cart.back`, `checkout`, `ship`), by its `charge` effect (an invoked
 * promise) and by a timer: a cart left alone for 30 minutes is abandoned. It promises that nothing
 * is charged for an empty cart (the `hasItems` guard), that a declined card returns the shopper to
 * the review with the reason, and that a paid order is shipped once.
 */
import { assertEvent, assign, fromPromise, setup } from 'xstate'

export interface Item {
  sku: string
  qty: number
  price: number
}

export interface CheckoutContext {
  customer: string
  items: Item[]
  receipt: string | null
  declined: string | null
}

export type CheckoutEvent =
  | { type: 'cart.add'; item: Item }
  | { type: 'cart.remove'; sku: string }
  | { type: 'cart.review' }
  | { type: 'cart.back' }
  | { type: 'checkout' }
  | { type: 'ship' }

export const total = (items: Item[]) => items.reduce((sum, i) => sum + i.qty * i.price, 0)

export const checkout = setup({
  types: {
    context: {} as CheckoutContext,
    events: {} as CheckoutEvent,
    input: {} as { customer: string },
  },
  guards: {
    hasItems: ({ context }) => context.items.length > 0,
  },
  actions: {
    addItem: assign({
      items: ({ context, event }) => {
        assertEvent(event, 'cart.add')
        return [...context.items.filter((i) => i.sku !== event.item.sku), event.item]
      },
    }),
    removeItem: assign({
      items: ({ context, event }) => {
        assertEvent(event, 'cart.remove')
        return context.items.filter((i) => i.sku !== event.sku)
      },
    }),
    noteReceipt: assign({ receipt: (_, params: { receipt: string }) => params.receipt, declined: null }),
    noteDeclined: assign({ declined: (_, params: { reason: string }) => params.reason }),
  },
  actors: {
    // A real app calls its payment provider here, with an idempotency key; this one declines
    // totals over 1000 so that the example shows both ways out.
    charge: fromPromise(async ({ input }: { input: { customer: string; total: number } }) => {
      if (input.total > 1000) throw new Error(`card declined for ${input.total}`)
      return { receipt: `receipt-${input.customer}-${input.total}` }
    }),
  },
  delays: { abandonAfter: 30 * 60_000 },
}).createMachine({
  id: 'checkout',
  context: ({ input }) => ({ customer: input.customer, items: [], receipt: null, declined: null }),
  initial: 'shopping',
  states: {
    shopping: {
      initial: 'browsing',
      after: { abandonAfter: 'abandoned' },
      on: {
        'cart.add': { actions: 'addItem' },
        'cart.remove': { actions: 'removeItem' },
      },
      states: {
        browsing: { on: { 'cart.review': 'reviewing' } },
        reviewing: {
          on: {
            'cart.back': 'browsing',
            checkout: { guard: 'hasItems', target: '#checkout.paying' },
          },
        },
      },
    },
    paying: {
      invoke: {
        src: 'charge',
        input: ({ context }) => ({ customer: context.customer, total: total(context.items) }),
        onDone: { target: 'paid', actions: { type: 'noteReceipt', params: ({ event }) => event.output } },
        onError: {
          target: 'shopping.reviewing',
          actions: {
            type: 'noteDeclined',
            params: ({ event }) => ({ reason: String((event.error as Error)?.message ?? event.error) }),
          },
        },
      },
    },
    paid: { on: { ship: 'shipped' } },
    shipped: { type: 'final' },
    abandoned: { type: 'final' },
  },
})
