// dom.js -- making elements from data, never from markup: h('td', {class: 'x'}, 'text').

// An element with attributes (on* are listeners, false/null are left out)
// and children (nodes, strings, numbers, arrays of them; null is skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

// Append children to el (see h).
export function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// Replace el's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

// The first element matching sel.
export const $ = (sel, root = document) => root.querySelector(sel);
