/**
 * Lays out a statechart with elkjs (layered, hierarchical): nested and parallel states as nested
 * boxes, an initial marker in every compound state, transitions as routed edges with their labels.
 * Returns absolute coordinates ready to draw. Pure apart from elkjs; runs in Node and the browser.
 */
import ElkModule from 'elkjs/lib/elk.bundled.js'
import type { Chart, ChartTransition } from './definition.ts'

export interface Box {
  x: number
  y: number
  w: number
  h: number
}

export interface LaidNode extends Box {
  id: string
}

export interface LaidEdge {
  t: ChartTransition
  /** One polyline per target (a transition may target several parallel states). */
  paths: Array<Array<{ x: number; y: number }>>
  label?: Box & { text: string }
}

export interface Layout {
  width: number
  height: number
  nodes: Map<string, LaidNode>
  /** Initial markers, by the compound node that owns them. */
  initials: Map<string, { dot: Box; path: Array<{ x: number; y: number }> }>
  edges: LaidEdge[]
}

const CHAR = 7.4
const LINE = 16
// elkjs is CommonJS: its default export is the constructor, wrapped or not depending on the loader
const ELK: any = (ElkModule as any).default ?? ElkModule
let elk: { layout(graph: unknown): Promise<unknown> } | undefined

/** Width of `text` in the chart's font, roughly (monospace-ish measure keeps it deterministic). */
export const textWidth = (text: string, char = CHAR) => Math.ceil(text.length * char)

export async function layoutChart(chart: Chart): Promise<Layout> {
  elk ??= new ELK()
  const build = (id: string): any => {
    const n = chart.nodes.get(id)!
    const label = n.key
    if (n.children.length === 0) {
      const lines = n.internal.map((t) => t.label)
      const w = Math.max(96, textWidth(label, 8.2) + 32, ...lines.map((l) => textWidth(l, 6.6) + 28))
      return { id, width: w, height: 38 + lines.length * LINE + (lines.length ? 6 : 0) }
    }
    const kids = n.children.map(build)
    if (n.initial && n.type !== 'parallel') kids.unshift({ id: `${id}::init`, width: 10, height: 10 })
    const header = 30 + n.internal.length * LINE
    return {
      id,
      children: kids,
      layoutOptions: {
        'elk.padding': `[top=${header + 10},left=16,bottom=16,right=16]`,
        'elk.nodeSize.minimum': `(${Math.max(120, textWidth(label, 8.2) + 48, ...n.internal.map((t) => textWidth(t.label, 6.6) + 40))}, 60)`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        ...(n.type === 'parallel' ? { 'elk.direction': 'RIGHT', 'elk.spacing.nodeNode': '20' } : {}),
      },
    }
  }
  const graphEdges: any[] = []
  chart.edges.forEach((t, i) => {
    t.targets.forEach((target, k) => {
      // ELK cannot route an edge from the graph itself (a transition on the machine's root, such
      // as classAStream's `on`): it is left out of the drawing rather than failing the layout
      if (!chart.nodes.has(target) || t.source === chart.root || target === chart.root) return
      graphEdges.push({
        id: `e${i}:${k}`,
        sources: [t.source],
        targets: [target],
        labels: k === 0 ? [{ text: t.label, width: textWidth(t.label, 6.6) + 8, height: 16 }] : [],
      })
    })
  })
  for (const n of chart.nodes.values()) {
    if (n.initial && n.type !== 'parallel' && n.children.length && chart.nodes.has(n.initial)) {
      graphEdges.push({ id: `init:${n.id}`, sources: [`${n.id}::init`], targets: [n.initial] })
    }
  }
  const root = build(chart.root)
  const graph = {
    ...root,
    layoutOptions: {
      ...root.layoutOptions,
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '3',
      'elk.spacing.edgeNode': '14',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.edgeLabels.sideSelection': 'SMART_DOWN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
    },
    edges: graphEdges,
  }
  const out: any = await elk!.layout(graph)
  const nodes = new Map<string, LaidNode>()
  const initials: Layout['initials'] = new Map()
  const walk = (n: any) => {
    if (String(n.id).endsWith('::init')) {
      initials.set(n.id.slice(0, -6), { dot: { x: n.x, y: n.y, w: n.width, h: n.height }, path: [] })
    } else nodes.set(n.id, { id: n.id, x: n.x ?? 0, y: n.y ?? 0, w: n.width, h: n.height })
    for (const c of n.children ?? []) walk(c)
  }
  walk(out)
  const edges = new Map<string, LaidEdge>()
  const all: any[] = []
  const collect = (n: any) => {
    for (const e of n.edges ?? []) all.push(e)
    for (const c of n.children ?? []) collect(c)
  }
  collect(out)
  for (const e of all) {
    const pts = (e.sections ?? []).flatMap((s: any) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint])
    if (String(e.id).startsWith('init:')) {
      const m = initials.get(e.id.slice(5))
      if (m) m.path = pts
      continue
    }
    const [i] = String(e.id).slice(1).split(':').map(Number)
    const t = chart.edges[i]
    const le = edges.get(String(i)) ?? { t, paths: [] }
    le.paths.push(pts)
    const l = e.labels?.[0]
    if (l && l.x !== undefined) le.label = { x: l.x, y: l.y, w: l.width, h: l.height, text: t.label }
    edges.set(String(i), le)
  }
  return { width: out.width, height: out.height, nodes, initials, edges: [...edges.values()] }
}
