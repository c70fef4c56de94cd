/*
 * The Synapse page: plain JavaScript over the server's JSON API, no framework,
 * no request to any host but the one that served it. Everything that comes
 * from the network (pack names, file names, messages) goes into the DOM as
 * text nodes, never as markup.
 */
'use strict';

(function () {
	const TOKEN_KEY = 'synapse.api_token';
	const POLL_MS = 250;
	let token = null;
	try {
		token = sessionStorage.getItem(TOKEN_KEY);
	} catch (e) {
		token = null;
	}
	let tokenWait = null;	/* the promise of the token form while it is shown */
	let tokenDone = null;
	let packNames = [];
	const busy = new Set();	/* packs with an install running */

	const $ = (id) => document.getElementById(id);

	/* el('li', {class: 'x', dataset: {pack: n}, onclick: f}, 'text', node, ...) */
	function el(tag, attrs, ...children) {
		const node = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				node.className = v;
			else if (k === 'dataset')
				Object.assign(node.dataset, v);
			else if (k.startsWith('on'))
				node.addEventListener(k.slice(2), v);
			else if (k in node && typeof v !== 'string')
				node[k] = v;
			else
				node.setAttribute(k, v === true ? '' : String(v));
		}
		for (const c of children.flat()) {
			if (c === null || c === undefined || c === false)
				continue;
			node.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return node;
	}

	function clear(node) {
		node.replaceChildren();
		return node;
	}

	function fmtBytes(n) {
		if (n === null || n === undefined || typeof n !== 'number')
			return '?';
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < units.length - 1) {
			n /= 1024;
			i++;
		}
		return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
	}

	function detailText(d) {
		if (typeof d === 'string')
			return d;
		try {
			return JSON.stringify(d);
		} catch (e) {
			return String(d);
		}
	}

	class ApiError extends Error {
		constructor(status, message) {
			super(message);
			this.status = status;
		}
	}

	/* ---- messages ------------------------------------------------------ */

	function say(text, kind) {
		const box = $('messages');
		const item = el('div', {class: 'message ' + (kind || 'info')},
			el('span', {class: 'message-text'}, text),
			el('button', {type: 'button', class: 'link', 'aria-label': 'dismiss',
				onclick: () => item.remove()}, '×'));
		box.append(item);
		while (box.children.length > 5)
			box.firstChild.remove();
		if (kind !== 'error')
			setTimeout(() => item.remove(), 8000);
	}

	function fail(what, err) {
		say(what + ': ' + (err && err.message ? err.message : String(err)), 'error');
	}

	/* ---- the API ------------------------------------------------------- */

	function askToken(detail) {
		if (!tokenWait) {
			tokenWait = new Promise((resolve) => { tokenDone = resolve; });
			$('token-message').textContent = token ?
				'The server refused the token' + (detail ? ' (' + detailText(detail) + ')' : '') + '.' :
				'The server asks for its API token (SYNAPSE_API_TOKEN).';
			$('token-form').hidden = false;
			$('token-input').focus();
		}
		return tokenWait;
	}

	$('token-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		token = $('token-input').value;
		try {
			sessionStorage.setItem(TOKEN_KEY, token);
		} catch (e) {
			/* private mode: the token lives as long as the page */
		}
		$('token-input').value = '';
		$('token-form').hidden = true;
		const done = tokenDone;
		tokenWait = tokenDone = null;
		if (done)
			done();
	});

	async function api(method, path, body) {
		for (;;) {
			const headers = {'Accept': 'application/json'};
			const init = {method: method, headers: headers, cache: 'no-store'};
			if (body !== undefined) {
				headers['Content-Type'] = 'application/json';
				init.body = JSON.stringify(body);
			}
			const sent = token;
			if (sent)
				headers['Authorization'] = 'Bearer ' + sent;
			let resp;
			try {
				resp = await fetch(path, init);
			} catch (e) {
				throw new ApiError(0, 'the server cannot be reached (' + e.message + ')');
			}
			const text = await resp.text();
			let data = null;
			if (text) {
				try {
					data = JSON.parse(text);
				} catch (e) {
					data = null;
				}
			}
			if (resp.status === 401) {
				/* a token given while this request was on its way: just try it */
				if (token === sent)
					await askToken(data && data.detail);
				continue;
			}
			if (!resp.ok) {
				const msg = data && data.detail !== undefined ? detailText(data.detail) :
					method + ' ' + path + ': HTTP ' + resp.status;
				throw new ApiError(resp.status, msg);
			}
			return data;
		}
	}

	const enc = encodeURIComponent;
	const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

	/*
	 * A long operation: asked with ?wait=false it answers 202 {job}, which is
	 * polled until it is done or failed; a server that answers at once gives
	 * the result directly. @bar, when given, is a <progress> kept up to date.
	 */
	async function runJob(method, path, body, bar, label) {
		const sep = path.includes('?') ? '&' : '?';
		const first = await api(method, path + sep + 'wait=false', body);
		if (!first || first.job === undefined || first.job === null)
			return first;
		for (;;) {
			const job = await api('GET', '/api/jobs/' + enc(String(first.job)));
			const p = job.progress || {};
			if (bar && typeof p.bytes_total === 'number' && p.bytes_total > 0) {
				bar.max = p.bytes_total;
				bar.value = Math.min(p.bytes_done || 0, p.bytes_total);
			}
			if (label)
				label.textContent = job.state + (typeof p.bytes_total === 'number' && p.bytes_total > 0 ?
					' ' + fmtBytes(p.bytes_done || 0) + ' of ' + fmtBytes(p.bytes_total) : '');
			if (job.state === 'done') {
				if (bar)
					bar.value = bar.max;
				return job.result;
			}
			if (job.state === 'failed')
				throw new ApiError(500, job.detail !== undefined ? detailText(job.detail) : 'the job failed');
			await sleep(POLL_MS);
		}
	}

	/* ---- packs --------------------------------------------------------- */

	function previewOf(show) {
		const previews = show && show.pack && Array.isArray(show.pack.previews) ? show.pack.previews : [];
		const img = previews.find((p) => p && typeof p.filename === 'string' &&
			(p.media_type === undefined || p.media_type === null || p.media_type === 'image'));
		return img ? img.filename : null;
	}

	function packSize(show) {
		let total = 0, known = false;
		for (const d of (show && Array.isArray(show.dependencies) ? show.dependencies : [])) {
			if (typeof d.size_bytes === 'number') {
				total += d.size_bytes;
				known = true;
			}
		}
		return known ? total : null;
	}

	/*
	 * Previews are fetched like the API, with the token when there is one (an
	 * <img src> could not send it), and shown from a blob: URL of this page.
	 * Once fetched, a preview is kept for the page's lifetime.
	 */
	const previews = new Map();

	function previewURL(src) {
		if (!previews.has(src)) {
			const p = (async () => {
				for (;;) {
					const sent = token;
					const headers = sent ? {'Authorization': 'Bearer ' + sent} : {};
					const resp = await fetch(src, {headers: headers});
					if (resp.status === 401) {
						if (token === sent)
							await askToken(null);
						continue;
					}
					if (!resp.ok)
						throw new ApiError(resp.status, 'HTTP ' + resp.status);
					return URL.createObjectURL(await resp.blob());
				}
			})();
			p.catch(() => previews.delete(src));
			previews.set(src, p);
		}
		return previews.get(src);
	}

	function thumb(pack, filename) {
		if (!filename)
			return el('div', {class: 'thumb none'}, 'no preview');
		const src = '/previews/' + enc(pack) + '/resources/previews/' + enc(filename);
		const img = el('img', {class: 'thumb', alt: 'preview of ' + pack, dataset: {preview: src}});
		const placeholder = () => {
			if (img.isConnected)
				img.replaceWith(el('div', {class: 'thumb none', dataset: {preview: src}, title: filename},
					'preview cannot be shown'));
		};
		/* an image the browser cannot show (or a 404) leaves a placeholder */
		img.addEventListener('error', placeholder);
		previewURL(src).then((url) => { img.src = url; }, placeholder);
		return img;
	}

	function packItem(p, show, err) {
		const name = p.name;
		const state = el('span', {class: 'pack-state ' + (p.installed ? 'ok' : 'warn')},
			p.installed ? 'installed' : 'not installed');
		const progress = el('div', {class: 'progress-box'});
		const deps = el('ul', {class: 'deps'});
		if (show && Array.isArray(show.dependencies)) {
			for (const d of show.dependencies)
				deps.append(el('li', {class: 'dep-' + d.status},
					el('span', {class: 'mono'}, d.filename || d.id), ' ',
					el('span', {class: 'muted'}, [d.kind, d.status, typeof d.size_bytes === 'number' ?
						fmtBytes(d.size_bytes) : null].filter(Boolean).join(' · '))));
		}
		const size = packSize(show);
		const buttons = el('div', {class: 'buttons'},
			p.installed ? null : el('button', {type: 'button', dataset: {action: 'install'},
				disabled: busy.has(name), onclick: () => install(name, progress)}, 'Install'),
			el('button', {type: 'button', dataset: {action: 'use'}, onclick: () => usePack(name, null)}, 'Use'),
			el('button', {type: 'button', class: 'danger', dataset: {action: 'delete'},
				onclick: () => deletePack(name)}, 'Delete'));
		return el('li', {class: 'pack', dataset: {pack: name}},
			thumb(name, previewOf(show)),
			el('div', {class: 'pack-body'},
				el('div', {class: 'pack-head'},
					el('strong', {class: 'pack-name'}, name), ' ',
					el('span', {class: 'badge'}, p.pack_type || '?'), ' ', state),
				el('div', {class: 'muted'}, String(p.dependencies_count) + ' dependenc' +
					(p.dependencies_count === 1 ? 'y' : 'ies') +
					(size !== null ? ', ' + fmtBytes(size) : '')),
				err ? el('div', {class: 'error-text'}, err.message) : null,
				deps, progress, buttons));
	}

	async function loadPacks() {
		const list = await api('GET', '/api/packs/');
		const packs = list && Array.isArray(list.packs) ? list.packs : [];
		packNames = packs.map((p) => p.name);
		/* each pack's details, at most 6 requests at a time */
		const shows = new Array(packs.length);
		let next = 0;
		const worker = async () => {
			while (next < packs.length) {
				const i = next++;
				shows[i] = await api('GET', '/api/packs/' + enc(packs[i].name))
					.then((s) => [s, null], (e) => [null, e]);
			}
		};
		await Promise.all(Array.from({length: Math.min(6, packs.length)}, worker));
		const ul = clear($('pack-list'));
		packs.forEach((p, i) => ul.append(packItem(p, shows[i][0], shows[i][1])));
		$('packs-empty').hidden = packs.length > 0;
		fillUseSelects();
	}

	async function install(pack, box) {
		if (busy.has(pack))
			return;
		busy.add(pack);
		const bar = el('progress', {class: 'bar', max: 1, value: 0});
		const label = el('span', {class: 'muted progress-label'}, 'starting');
		const boxes = box ? [box] : [];
		document.querySelectorAll('.progress-box').forEach((b) => {
			const owner = b.closest('[data-pack]');
			if (owner && owner.dataset.pack === pack && !boxes.includes(b))
				boxes.push(b);
		});
		const row = el('div', {class: 'progress', dataset: {job: pack}}, bar, ' ', label);
		if (boxes.length)
			clear(boxes[0]).append(row);
		document.querySelectorAll('[data-pack] button[data-action="install"]').forEach((b) => {
			if (b.closest('[data-pack]').dataset.pack === pack)
				b.disabled = true;
		});
		try {
			const r = await runJob('POST', '/api/packs/' + enc(pack) + '/install', {}, bar, label);
			const n = r && typeof r.blobs_installed === 'number' ? r.blobs_installed : 0;
			say('Installed ' + pack + ': ' + n + ' file(s) downloaded', 'ok');
		} catch (e) {
			fail('Install ' + pack, e);
		} finally {
			busy.delete(pack);
			await refresh();
		}
	}

	async function deletePack(pack) {
		if (!window.confirm('Delete the pack ' + pack + '? Its blobs stay, as orphans.'))
			return;
		try {
			await api('DELETE', '/api/packs/' + enc(pack), {});
			say('Deleted ' + pack, 'ok');
		} catch (e) {
			fail('Delete ' + pack, e);
		}
		await refresh();
	}

	$('import-form').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const input = $('import-url');
		const url = input.value.trim();
		if (!url)
			return;
		const status = $('import-status');
		const button = ev.target.querySelector('button');
		button.disabled = true;
		status.textContent = 'importing ' + url + '…';
		try {
			const r = await api('POST', '/api/packs/import', {url: url});
			const name = r && (r.pack_name || r.pack) || url;
			status.textContent = 'imported ' + name +
				(r && typeof r.previews_downloaded === 'number' ? ' (' + r.previews_downloaded + ' preview(s))' : '');
			input.value = '';
		} catch (e) {
			status.textContent = '';
			fail('Import ' + url, e);
		} finally {
			button.disabled = false;
		}
		await refresh();
	});

	/* ---- UIs, profiles ------------------------------------------------- */

	async function usePack(pack, uiSet) {
		const body = {pack: pack, sync: true};
		if (uiSet)
			body.ui_set = uiSet;
		try {
			const r = await runJob('POST', '/api/profiles/use', body, null, null);
			say('Using ' + (r && r.activated_profile ? r.activated_profile : pack) +
				(uiSet ? ' in ' + uiSet : ''), 'ok');
		} catch (e) {
			fail('Use ' + pack, e);
		}
		await refresh();
	}

	async function profileStep(what, uiSet) {
		const body = uiSet ? {ui_set: uiSet} : {};
		try {
			const r = await api('POST', '/api/profiles/' + what, body);
			say((what === 'back' ? 'Back to ' : 'Reset to ') +
				(r && r.to_profile ? r.to_profile : 'the previous profile') + (uiSet ? ' in ' + uiSet : ''), 'ok');
		} catch (e) {
			fail(what === 'back' ? 'Back' : 'Reset', e);
		}
		await refresh();
	}

	$('back-all').addEventListener('click', () => profileStep('back', null));
	$('reset-all').addEventListener('click', () => profileStep('reset', null));

	function fillUseSelects() {
		document.querySelectorAll('select.use-pack').forEach((sel) => {
			const keep = sel.value;
			clear(sel).append(el('option', {value: ''}, 'use pack…'),
				packNames.map((n) => el('option', {value: n}, n)));
			if (packNames.includes(keep))
				sel.value = keep;
		});
	}

	function renderStatus(st) {
		const uis = Array.isArray(st.ui_targets) ? st.ui_targets : Object.keys(st.active || {});
		$('store-line').textContent = 'profile ' + (st.profile || '?') + ' · ' + uis.length + ' UI(s)';
		const tbody = clear($('ui-table').tBodies[0]);
		for (const ui of uis) {
			const active = st.active && st.active[ui] !== undefined ? st.active[ui] : '?';
			const stack = st.stacks && Array.isArray(st.stacks[ui]) ? st.stacks[ui] : [];
			const inSync = st.in_sync ? st.in_sync[ui] : undefined;
			const sel = el('select', {class: 'use-pack', 'aria-label': 'pack to use in ' + ui});
			tbody.append(el('tr', {dataset: {ui: ui}},
				el('td', {class: 'ui-name'}, ui),
				el('td', {}, el('span', {class: 'active-profile mono'}, String(active)),
					inSync === false ? el('span', {class: 'warn'}, ' (out of date)') : null),
				el('td', {class: 'stack mono'}, stack.join(' → ')),
				el('td', {class: 'buttons'},
					sel,
					el('button', {type: 'button', dataset: {action: 'use'},
						onclick: () => { if (sel.value) usePack(sel.value, ui); }}, 'Use'),
					el('button', {type: 'button', dataset: {action: 'back'},
						onclick: () => profileStep('back', ui)}, 'Back'),
					el('button', {type: 'button', dataset: {action: 'reset'},
						onclick: () => profileStep('reset', ui)}, 'Reset'))));
		}
		fillUseSelects();

		const notes = clear($('status-notes'));
		for (const n of Array.isArray(st.notes) ? st.notes : [])
			notes.append(el('li', {class: 'muted'}, detailText(n)));

		/* missing blobs, by pack, each pack with its install button */
		const missing = Array.isArray(st.missing_blobs) ? st.missing_blobs : [];
		const unresolved = Array.isArray(st.unresolved) ? st.unresolved : [];
		const byPack = new Map();
		for (const m of missing) {
			if (!byPack.has(m.pack))
				byPack.set(m.pack, []);
			byPack.get(m.pack).push(m);
		}
		const box = clear($('missing-list'));
		for (const [pack, items] of byPack) {
			const progress = el('div', {class: 'progress-box'});
			box.append(el('div', {class: 'missing-pack', dataset: {pack: pack}},
				el('div', {class: 'pack-head'}, el('strong', {}, pack), ' ',
					el('button', {type: 'button', dataset: {action: 'install'}, disabled: busy.has(pack),
						onclick: () => install(pack, progress)}, 'Install')),
				el('ul', {}, items.map((m) => el('li', {},
					el('span', {}, m.dependency_id), ' ', el('span', {class: 'muted'}, m.kind || ''), ' ',
					el('span', {class: 'mono muted', title: m.sha256 || ''},
						m.sha256 ? m.sha256.slice(0, 12) + '…' : '')))),
				progress));
		}
		for (const u of unresolved)
			box.append(el('div', {class: 'warn'}, (u.pack || '?') + ': ' + (u.dependency_id || '?') +
				' is unresolved (' + detailText(u.reason || '') + ')'));
		$('missing-none').hidden = missing.length > 0 || unresolved.length > 0;

		const shadowed = Array.isArray(st.shadowed) ? st.shadowed : [];
		const sbody = clear($('shadowed-table').tBodies[0]);
		for (const s of shadowed)
			sbody.append(el('tr', {},
				el('td', {}, s.ui || ''), el('td', {class: 'mono'}, s.dst_relpath || ''),
				el('td', {}, s.winner_pack || ''), el('td', {}, s.loser_pack || '')));
		$('shadowed-table').hidden = shadowed.length === 0;
		$('shadowed-none').hidden = shadowed.length > 0;
	}

	async function loadStatus() {
		renderStatus(await api('GET', '/api/store/status'));
	}

	/* ---- updates ------------------------------------------------------- */

	function candidateList(pack, dep, candidates) {
		const group = 'choose-' + pack + '-' + dep;
		return el('table', {class: 'candidates', dataset: {dependency: dep}},
			el('thead', {}, el('tr', {}, ['', 'file id', 'name', 'size', 'format', 'precision', '']
				.map((h) => el('th', {}, h)))),
			el('tbody', {}, (candidates || []).map((c) => {
				const id = 'c-' + Math.random().toString(36).slice(2);
				return el('tr', {},
					el('td', {}, el('input', {type: 'radio', name: group, id: id,
						value: String(c.file_id), dataset: {dependency: dep}})),
					el('td', {class: 'mono'}, el('label', {for: id}, String(c.file_id))),
					el('td', {class: 'mono'}, el('label', {for: id}, c.name || '')),
					el('td', {}, fmtBytes(c.size_bytes)),
					el('td', {}, c.format || ''),
					el('td', {}, c.precision || ''),
					el('td', {class: 'muted'}, c.primary ? 'primary' : ''));
			})));
	}

	function versionText(v) {
		if (!v)
			return '?';
		return (v.version_name || '?') + (v.provider_version_id !== undefined ? ' (' + v.provider_version_id + ')' : '');
	}

	function planItem(pack, plan) {
		const body = el('div', {class: 'plan-body'});
		for (const c of plan.changes || [])
			body.append(el('div', {class: 'change'},
				el('strong', {}, c.dependency_id), ': ', versionText(c.old), ' → ', versionText(c.new), ' ',
				el('span', {class: 'mono'}, c.new && c.new.filename || ''), ' ',
				el('span', {class: 'muted'}, c.new ? fmtBytes(c.new.size_bytes) : '')));
		for (const h of plan.held || [])
			body.append(el('div', {class: 'held'},
				el('strong', {}, h.dependency_id), ': held, ', h.message || detailText(h.reason || ''),
				' (', versionText(h.old), ' → ', versionText(h.new), '); choose a file to take it',
				candidateList(pack, h.dependency_id, h.candidates)));
		for (const a of plan.ambiguous || [])
			body.append(el('div', {class: 'ambiguous'},
				el('strong', {}, a.dependency_id), ': ', detailText(a.reason || 'several files could be the new one'),
				'; choose one',
				candidateList(pack, a.dependency_id, a.candidates)));
		for (const e of plan.errors || [])
			body.append(el('div', {class: 'error-text'}, (e.dependency_id || '?') + ': ' + detailText(e.error || '')));
		for (const n of plan.notes || [])
			body.append(el('div', {class: 'muted'}, (n.dependency_id || '?') + ': ' + detailText(n.note || '')));

		const status = el('span', {class: 'muted progress-label'});
		const bar = el('progress', {class: 'bar', max: 1, value: 0, hidden: true});
		const item = el('div', {class: 'plan', dataset: {pack: pack}},
			el('div', {class: 'pack-head'}, el('strong', {}, pack), ' ',
				el('span', {class: 'badge'}, plan.status || '?')),
			body);
		const canApply = (plan.changes || []).length + (plan.held || []).length + (plan.ambiguous || []).length > 0;
		if (canApply) {
			const apply = el('button', {type: 'button', dataset: {action: 'apply'}}, 'Apply');
			apply.addEventListener('click', async () => {
				const choose = {};
				item.querySelectorAll('input[type=radio]:checked').forEach((r) => {
					choose[r.dataset.dependency] = Number(r.value);
				});
				apply.disabled = true;
				bar.hidden = false;
				status.textContent = 'applying…';
				try {
					const body = {pack: pack, sync: $('update-sync').checked};
					if (Object.keys(choose).length)
						body.choose = choose;
					const r = await runJob('POST', '/api/updates/apply', body, bar, status);
					status.textContent = r && r.applied ? 'applied' : 'nothing applied';
					if (r && r.next)
						say(pack + ': ' + detailText(r.next), 'info');
					say('Updated ' + pack, 'ok');
				} catch (e) {
					status.textContent = '';
					fail('Update ' + pack, e);
				} finally {
					apply.disabled = false;
				}
				await refresh();
			});
			item.append(el('div', {class: 'buttons'}, apply, ' ', bar, ' ', status));
		}
		return item;
	}

	$('check-updates').addEventListener('click', async (ev) => {
		const button = ev.target;
		button.disabled = true;
		$('updates-summary').textContent = 'checking…';
		try {
			const r = await api('GET', '/api/updates/check-all');
			const plans = r && r.plans ? r.plans : {};
			const list = clear($('update-list'));
			let shown = 0;
			for (const [pack, plan] of Object.entries(plans)) {
				if (plan.status === 'up_to_date' || plan.status === 'not_followed')
					continue;
				list.append(planItem(pack, plan));
				shown++;
			}
			$('updates-summary').textContent = 'Checked ' + (r.packs_checked !== undefined ? r.packs_checked : '?') +
				' pack(s): ' + (shown ? shown + ' with something to do' : 'everything is up to date') + '.';
		} catch (e) {
			$('updates-summary').textContent = '';
			fail('Check for updates', e);
		} finally {
			button.disabled = false;
		}
	});

	/* ---- inventory, backup --------------------------------------------- */

	function kv(rows) {
		return el('table', {class: 'kv'}, el('tbody', {}, rows.filter(Boolean).map(([k, v]) =>
			el('tr', {}, el('th', {}, k), el('td', {}, v)))));
	}

	async function loadInventory() {
		const inv = await api('GET', '/api/store/inventory');
		const s = inv && inv.summary ? inv.summary : {};
		const kinds = Object.entries(s.bytes_by_kind || {}).sort((a, b) => b[1] - a[1]);
		const box = clear($('inventory-summary'));
		box.append(kv([
			['blobs', String(s.blobs_total) + ' (' + fmtBytes(s.bytes_total) + ' here)'],
			['referenced', String(s.blobs_referenced) + ' (' + fmtBytes(s.bytes_referenced) + ')'],
			['orphans', String(s.blobs_orphan) + ' (' + fmtBytes(s.bytes_orphan) + ')'],
			['missing', String(s.blobs_missing)],
			s.dedup ? ['saved by dedup', fmtBytes(s.dedup.bytes_saved)] : null,
			typeof s.disk_free === 'number' ? ['disk free', fmtBytes(s.disk_free) + ' of ' + fmtBytes(s.disk_total)] : null,
		]));
		if (kinds.length)
			box.append(el('table', {class: 'kinds'},
				el('thead', {}, el('tr', {}, el('th', {}, 'kind'), el('th', {}, 'size'))),
				el('tbody', {}, kinds.map(([k, v]) => el('tr', {dataset: {kind: k}},
					el('td', {}, k), el('td', {}, fmtBytes(v)))))));
		for (const w of Array.isArray(inv.warnings) ? inv.warnings : [])
			box.append(el('div', {class: 'warn'}, detailText(w)));
	}

	$('cleanup-preview').addEventListener('click', async () => {
		const box = clear($('cleanup-result'));
		try {
			const r = await api('POST', '/api/store/inventory/cleanup-orphans', {dry_run: true});
			const items = Array.isArray(r.deleted) ? r.deleted : [];
			box.append(el('p', {}, items.length ?
				'A cleanup would remove ' + items.length + ' orphan(s), freeing ' + fmtBytes(r.bytes_freed) + ':' :
				'Nothing to clean up: no orphan blob.'));
			if (items.length)
				box.append(el('ul', {}, items.map((it) => el('li', {},
					el('span', {class: 'mono'}, it.display_name || it.sha256 || '?'), ' ',
					el('span', {class: 'muted'}, fmtBytes(it.size_bytes))))));
			for (const e of [].concat(r.errors || [], r.warnings || []))
				box.append(el('div', {class: 'warn'}, detailText(e)));
			box.append(el('p', {class: 'muted'}, 'Nothing was removed: run synapse inventory cleanup --execute to do it.'));
		} catch (e) {
			fail('Cleanup preview', e);
		}
	});

	async function loadBackup() {
		const b = await api('GET', '/api/store/backup/status');
		const box = clear($('backup-status'));
		if (!b.enabled) {
			box.append(el('p', {class: 'muted'}, 'Not enabled' + (b.error ? ' (' + b.error + ')' : '') +
				'. Set it up with synapse backup config --path DIR --enable.'));
			return;
		}
		box.append(kv([
			['backend', String(b.backend || '?')],
			['path', String(b.path || '?')],
			['reachable', b.reachable ? 'yes' : 'no' + (b.error ? ': ' + b.error : '')],
			['holds', String(b.blobs) + ' blob(s), ' + fmtBytes(b.bytes)],
			typeof b.free_space === 'number' ? ['free', fmtBytes(b.free_space) + ' of ' + fmtBytes(b.total_space)] : null,
			['only here', String(b.blobs_local_only)],
			['only on the backup', String(b.blobs_backup_only)],
			['on both', String(b.blobs_both)],
		]));
	}

	/* ---- refresh ------------------------------------------------------- */

	let refreshing = null;

	async function refreshOnce() {
		const parts = [['Status', loadStatus], ['Packs', loadPacks], ['Inventory', loadInventory],
			['Backup', loadBackup]];
		const results = await Promise.allSettled(parts.map(([, f]) => f()));
		results.forEach((r, i) => {
			if (r.status === 'rejected')
				fail(parts[i][0], r.reason);
		});
		document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
	}

	/* one refresh at a time; a request during one runs once it ends */
	async function refresh() {
		while (refreshing)
			await refreshing;
		refreshing = refreshOnce();
		try {
			await refreshing;
		} finally {
			refreshing = null;
		}
	}

	$('refresh').addEventListener('click', () => refresh());
	refresh();
})();
