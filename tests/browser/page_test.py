#!/usr/bin/env python3
"""The page in a real browser, against the real `synapse serve`.

Starts a loopback fake Civitai (models 4242, 5000, 5001), a fresh store and
`synapse serve --port 0` with an API token, then drives headless Chromium over
the DevTools protocol (a WebSocket client written here with the standard
library only) through what a person does: answer the token form, import
civitai:5000 through the import box, see a failed import's message, install
the pack (a progress bar, then "installed"), use it (each UI shows
work__<pack>), check for updates, preview an orphan cleanup, choose a file of an
ambiguous update (that answer canned in the page), go back (global); then load
the page from a server without a token: no token form. Every request the page
makes must go to the server itself. Screenshots go to <artifacts>/page.png (1280 px wide) and
<artifacts>/page-narrow.png (420 px).

  page_test.py --synapse BIN --civitai-server BIN --artifacts DIR [--chromium BIN]
"""
import argparse
import base64
import json
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOKEN = 'page-test-token'
PACK = 'Scale_Lora'
STEP_TIMEOUT = 60.0


class Failure(Exception):
    pass


def log(msg):
    print('browser: ' + msg, flush=True)


# ---- processes -----------------------------------------------------------

class Proc:
    """A child process whose output lines are collected by a thread."""

    def __init__(self, name, argv, env, stdin=subprocess.DEVNULL):
        self.name = name
        self.lines = queue.Queue()
        self.all = []
        self.p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            self.all.append(line)
            self.lines.put(line)

    def wait_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure('%s printed no line matching %r in %.0f s; it printed:\n%s'
                              % (self.name, pattern, timeout, '\n'.join(self.all[-30:])))
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.p.poll() is not None:
                    raise Failure('%s exited (%s) before printing %r; it printed:\n%s'
                                  % (self.name, self.p.returncode, pattern, '\n'.join(self.all[-30:])))
                continue
            m = rx.search(line)
            if m:
                return m

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


# ---- a minimal WebSocket client (RFC 6455) for the DevTools protocol -----

class WebSocket:
    def __init__(self, url, timeout=STEP_TIMEOUT):
        m = re.match(r'ws://([^/:]+):(\d+)(/.*)$', url)
        if not m:
            raise Failure('not a ws:// URL: ' + url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        if host not in ('127.0.0.1', 'localhost'):
            raise Failure('DevTools is not on loopback: ' + url)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(('GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n'
                           'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                           'Sec-WebSocket-Version: 13\r\n\r\n' % (path, host, port, key)).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Failure('DevTools closed the WebSocket handshake')
            head += chunk
        head, self.buf = head.split(b'\r\n\r\n', 1)
        if not head.startswith(b'HTTP/1.1 101'):
            raise Failure('DevTools refused the WebSocket: ' + head.decode('latin-1').splitlines()[0])

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure('DevTools closed the WebSocket')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text, opcode=0x1):
        data = text.encode() if isinstance(text, str) else text
        n = len(data)
        if n < 126:
            head = struct.pack('!BB', 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack('!BBH', 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack('!BBQ', 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        message = b''
        while True:
            b0, b1 = self._exact(2)
            opcode, n = b0 & 0x0f, b1 & 0x7f
            if n == 126:
                n = struct.unpack('!H', self._exact(2))[0]
            elif n == 127:
                n = struct.unpack('!Q', self._exact(8))[0]
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:
                self.send(data, 0xA)
                continue
            if opcode == 0x8:
                raise Failure('DevTools closed the WebSocket')
            if opcode in (0x0, 0x1, 0x2):
                message += data
                if b0 & 0x80:
                    return message.decode('utf-8', 'replace')


class DevTools:
    def __init__(self, ws_url):
        self.ws = WebSocket(ws_url)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({'id': mid, 'method': method, 'params': params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == mid:
                if 'error' in msg:
                    raise Failure('%s: %s' % (method, msg['error']))
                return msg.get('result', {})
            if 'method' in msg:
                self.events.append(msg)

    def js(self, expression):
        """The value of @expression in the page (promises are awaited)."""
        r = self.call('Runtime.evaluate', expression=expression, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r:
            d = r['exceptionDetails']
            raise Failure('page script failed: %s' % (d.get('exception', {}).get('description') or d.get('text')))
        return r.get('result', {}).get('value')

    def wait(self, expression, what, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise Failure('timed out waiting for %s; the page says:\n%s' % (what, self.page_text()))
            time.sleep(0.1)

    def page_text(self):
        try:
            return self.js('document.body ? document.body.innerText : ""')
        except Failure as e:
            return '(cannot read the page: %s)' % e

    def screenshot(self, path, width, height):
        self.call('Emulation.setDeviceMetricsOverride', width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)
        full = self.js('Math.ceil(document.documentElement.scrollHeight)') or height
        self.call('Emulation.setDeviceMetricsOverride', width=width, height=max(height, min(int(full), 4000)),
                  deviceScaleFactor=1, mobile=False)
        time.sleep(0.2)
        data = self.call('Page.captureScreenshot', format='png')['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        sideways = self.js('document.documentElement.scrollWidth > document.documentElement.clientWidth + 1')
        self.call('Emulation.setDeviceMetricsOverride', width=1280, height=1000,
                  deviceScaleFactor=1, mobile=False)
        if sideways:
            raise Failure('at %d px the page is wider than the window (see %s)' % (width, path))


def jstr(s):
    return json.dumps(s)


# ---- the walk through the page ------------------------------------------

def pack_sel(pack):
    return 'li.pack[data-pack=%s]' % json.dumps(pack).replace('"', "'")


def active_profiles(dt):
    return dt.js('Object.fromEntries([...document.querySelectorAll("#ui-table tr[data-ui]")]'
                 '.map(tr => [tr.dataset.ui, tr.querySelector(".active-profile").textContent]))')


def walk(dt, base, artifacts):
    dt.call('Page.enable')
    dt.call('Network.enable')
    dt.call('Runtime.enable')
    dt.call('Emulation.setDeviceMetricsOverride', width=1280, height=1000, deviceScaleFactor=1, mobile=False)
    dt.call('Page.navigate', url=base + '/')

    # The server wants a token: the page asks once, then loads.
    dt.wait('document.getElementById("token-form") && !document.getElementById("token-form").hidden',
            'the token form (the server answers 401 without the token)')
    dt.js('document.getElementById("token-input").value = %s;'
          'document.getElementById("token-form").requestSubmit(); true' % jstr(TOKEN))
    dt.wait('Number(document.body.dataset.loaded || 0) >= 1', 'the first load')
    if dt.js('!document.getElementById("token-form").hidden'):
        raise Failure('the token form is still shown after sending the token:\n' + dt.page_text())
    if dt.js('sessionStorage.getItem("synapse.api_token")') != TOKEN:
        raise Failure('the token was not kept in sessionStorage')
    dt.wait('!document.getElementById("packs-empty").hidden', 'the empty pack list')
    profiles = dt.wait('(() => { const r = %s; return Object.keys(r).length ? r : null; })()'
                       % active_profiles_js(), 'the UIs table')
    log('loaded: UIs %s' % profiles)
    if any(v != 'global' for v in profiles.values()):
        raise Failure('a fresh store shows %s, not global everywhere' % profiles)

    # A bad reference: the API's message is shown as text.
    dt.js('document.getElementById("import-url").value = "civitai:999999";'
          'document.getElementById("import-form").requestSubmit(); true')
    msg = dt.wait('(() => { const m = document.querySelector("#messages .message.error .message-text");'
                  ' return m ? m.textContent : null; })()', 'the message of a failed import')
    log('failed import says: %s' % msg)
    if 'civitai:999999' not in msg:
        raise Failure('the failed import message does not name the reference: %r' % msg)

    # Import through the form.
    dt.js('document.getElementById("import-url").value = "civitai:5000";'
          'document.getElementById("import-form").requestSubmit(); true')
    sel = pack_sel(PACK)
    dt.wait('!!document.querySelector(%s)' % jstr(sel + ' .pack-state'), 'the imported pack in the list')
    state = dt.js('document.querySelector(%s).textContent' % jstr(sel + ' .pack-state'))
    if state != 'not installed':
        raise Failure('a freshly imported pack shows %r, not "not installed"' % state)
    preview = dt.js('(() => { const t = document.querySelector(%s); return t && t.dataset.preview; })()'
                    % jstr(sel + ' .thumb'))
    if not preview or not preview.startswith('/previews/%s/resources/previews/' % PACK):
        raise Failure('the pack shows no preview image (data-preview %r)' % preview)
    log('imported %s: %s, preview %s' % (PACK, state, preview))
    missing = dt.wait('!!document.querySelector("#missing-list [data-pack=%s]")' % PACK.replace('"', ''),
                      'the pack\'s missing blob')
    if not missing:
        raise Failure('the missing blobs list does not name the pack')

    # Install it: a progress bar, then "installed".
    dt.js('window.__sawProgress = false;'
          'new MutationObserver(() => { if (document.querySelector("progress.bar")) window.__sawProgress = true; })'
          '.observe(document.body, {subtree: true, childList: true});'
          'document.querySelector(%s).click(); true' % jstr(sel + ' button[data-action="install"]'))
    dt.wait('(() => { const s = document.querySelector(%s); return s && s.textContent === "installed"; })()'
            % jstr(sel + ' .pack-state'), 'the pack installed')
    if not dt.js('window.__sawProgress'):
        raise Failure('no progress bar was shown while installing')
    dt.wait('document.getElementById("missing-list").children.length === 0', 'no missing blob left')
    log('installed %s (a progress bar was shown)' % PACK)

    # Use it: every UI of the set shows work__<pack>.
    dt.js('document.querySelector(%s).click(); true' % jstr(sel + ' button[data-action="use"]'))
    want = 'work__' + PACK
    dt.wait('(() => { const r = %s; const v = Object.values(r); return v.length && v.every(p => p === %s); })()'
            % (active_profiles_js(), jstr(want)), 'every UI on ' + want)
    log('use: %s' % active_profiles(dt))
    stack = dt.js('document.querySelector("#ui-table tr[data-ui] .stack").textContent')
    if want not in stack or 'global' not in stack:
        raise Failure('the stack shows %r' % stack)
    dt.wait('!!document.querySelector("#inventory-summary table")', 'the inventory summary')
    if not dt.js('!!document.querySelector("#inventory-summary tr[data-kind=lora]")'):
        raise Failure('the inventory shows no lora sizes:\n' + dt.page_text())

    os.makedirs(artifacts, exist_ok=True)
    shot = os.path.join(artifacts, 'page.png')
    dt.screenshot(shot, 1280, 1000)
    narrow = os.path.join(artifacts, 'page-narrow.png')
    dt.screenshot(narrow, 420, 900)

    # Updates (the fake's model has no newer version) and the cleanup preview.
    dt.js('document.getElementById("check-updates").click(); true')
    summary = dt.wait('(() => { const t = document.getElementById("updates-summary").textContent;'
                      ' return t.startsWith("Checked") ? t : null; })()', 'the update check')
    log('updates: %s' % summary)
    if 'up to date' not in summary:
        raise Failure('the update check shows %r' % summary)
    dt.js('document.getElementById("cleanup-preview").click(); true')
    cleanup = dt.wait('(() => { const p = document.querySelector("#cleanup-result p");'
                      ' return p ? p.textContent : null; })()', 'the cleanup preview')
    log('cleanup preview: %s' % cleanup)
    if 'Nothing to clean up' not in cleanup:
        raise Failure('the cleanup preview of a store without orphans shows %r' % cleanup)

    # A plan that needs a choice, as the server would send it (the fake Civitai
    # has none to offer): the candidates are listed as radios, and Apply sends the
    # chosen file id; the answer's detail is shown. Only these two URLs are canned.
    canned = {'packs_checked': 1, 'packs_with_updates': 1, 'total_changes': 1, 'plans': {'Twins': {
        'pack': 'Twins', 'status': 'needs_choice', 'already_up_to_date': False, 'changes': [], 'held': [],
        'errors': [], 'notes': [], 'ambiguous': [{
            'dependency_id': 'main_lora', 'reason': 'several files of the newest version could be the new one',
            'current': {}, 'latest': {}, 'candidates': [
                {'file_id': 3001, 'name': 'twins_fp16.safetensors', 'size_bytes': 2040109465,
                 'format': 'SafeTensor', 'precision': 'fp16', 'primary': True, 'sha256': 'aa'},
                {'file_id': 3002, 'name': '<b>twins_fp32</b>.safetensors', 'size_bytes': 4080218931,
                 'format': 'SafeTensor', 'precision': 'fp32', 'primary': False, 'sha256': 'bb'}]}]}}}
    dt.js('(() => { window.__realFetch = window.fetch; window.__applied = null;'
          ' window.fetch = async (url, init) => {'
          '  if (url === "/api/updates/check-all")'
          '   return new Response(JSON.stringify(%s), {status: 200});'
          '  if (String(url).startsWith("/api/updates/apply")) {'
          '   window.__applied = JSON.parse(init.body);'
          '   return new Response(JSON.stringify({detail: "canned: nothing applied"}), {status: 409});'
          '  }'
          '  return window.__realFetch(url, init);'
          ' };'
          ' document.getElementById("check-updates").click(); return true; })()' % json.dumps(canned))
    rows = dt.wait('(() => { const r = [...document.querySelectorAll('
                   '".plan[data-pack=Twins] table.candidates tbody tr")];'
                   ' return r.length ? r.map(tr => tr.textContent) : null; })()', 'the candidates of the plan')
    log('candidates: %s' % rows)
    if len(rows) != 2 or '3001' not in rows[0] or 'fp16' not in rows[0] or '1.9 GiB' not in rows[0]:
        raise Failure('the candidate rows read %r' % rows)
    if '<b>twins_fp32</b>.safetensors' not in rows[1] or dt.js('!!document.querySelector(".plan b")'):
        raise Failure('a file name from the network was not shown as text: %r' % rows[1])
    dt.js('document.querySelectorAll(".plan[data-pack=Twins] input[type=radio]")[1].click();'
          'document.querySelector(".plan[data-pack=Twins] button[data-action=apply]").click(); true')
    applied = dt.wait('window.__applied', 'the apply request')
    if applied.get('pack') != 'Twins' or applied.get('choose') != {'main_lora': 3002}:
        raise Failure('Apply sent %r' % applied)
    dt.wait('[...document.querySelectorAll("#messages .message.error")].some(m => '
            'm.textContent.includes("canned: nothing applied"))', "the refused apply's message")
    dt.js('window.fetch = window.__realFetch; true')
    log('apply sent %s' % applied)

    # Back: global again.
    dt.js('document.getElementById("back-all").click(); true')
    dt.wait('(() => { const r = %s; const v = Object.values(r); return v.length && v.every(p => p === "global"); })()'
            % active_profiles_js(), 'every UI back on global')
    log('back: %s' % active_profiles(dt))

    # Only the server itself was asked for anything, and no script failed.
    urls = [e['params']['request']['url'] for e in dt.events if e['method'] == 'Network.requestWillBeSent']
    foreign = [u for u in urls if not (u.startswith(base + '/') or u.startswith('blob:' + base + '/')
                                       or u.startswith('data:'))]
    if foreign:
        raise Failure('the page asked other hosts: %s' % foreign)
    errors = [e['params'] for e in dt.events if e['method'] == 'Runtime.exceptionThrown']
    if errors:
        raise Failure('the page threw: %s' % errors[0].get('exceptionDetails', {}).get('exception', {})
                      .get('description'))
    log('%d request(s), all to %s' % (len(urls), base))
    # The install ran as a job (?wait=false, then /api/jobs/<id> polled).
    jobs = [u for u in urls if '/api/jobs/' in u]
    if not any('/install?wait=false' in u for u in urls) or not jobs:
        raise Failure('the install was not followed as a job: %s' % [u for u in urls if '/api/' in u])
    log('the install was polled as a job %d time(s)' % len(jobs))
    # The preview image came from the server's /previews/ route.
    previews = [e['params']['response'] for e in dt.events if e['method'] == 'Network.responseReceived'
                and '/previews/' in e['params']['response']['url']]
    if not previews or any(r['status'] != 200 for r in previews):
        raise Failure('the preview image was not served: %s' % [(r['url'], r['status']) for r in previews])
    return shot, narrow


def active_profiles_js():
    return ('Object.fromEntries([...document.querySelectorAll("#ui-table tr[data-ui]")]'
            '.map(tr => [tr.dataset.ui, tr.querySelector(".active-profile").textContent]))')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--synapse', required=True)
    ap.add_argument('--civitai-server', required=True)
    ap.add_argument('--artifacts', required=True)
    ap.add_argument('--chromium', default=shutil.which('chromium') or 'chromium')
    ap.add_argument('--serve', help='another server command instead of "synapse serve --port 0" '
                    '(for working on the page); it must print its http://127.0.0.1:PORT URL')
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix='synapse-browser.')
    procs = []
    ok = False
    try:
        env = dict(os.environ)
        env.update({'HOME': tmp, 'SYNAPSE_ROOT': os.path.join(tmp, 'store'), 'SYNAPSE_FSYNC': '0',
                    'SYNAPSE_API_TOKEN': TOKEN, 'NO_COLOR': '1'})
        env.pop('CIVITAI_API_TOKEN', None)
        env.pop('CIVITAI_API_KEY', None)

        fake = Proc('syn-bench-server', [a.civitai_server, '16384'], env, stdin=subprocess.PIPE)
        procs.append(fake)
        civitai = fake.wait_line(r'^(http://127\.0\.0\.1:\d+) ', 20).group(1)
        env['SYNAPSE_CIVITAI_URL'] = civitai
        log('fake Civitai at %s' % civitai)

        r = subprocess.run([a.synapse, 'store', 'init'], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure('synapse store init failed: %s%s' % (r.stdout, r.stderr))

        argv = a.serve.split() if a.serve else [a.synapse, 'serve', '--port', '0']
        server = Proc('synapse serve', argv, env)
        procs.append(server)
        base = server.wait_line(r'(http://127\.0\.0\.1:\d+)', 30).group(1)
        log('synapse serve at %s' % base)
        with urllib.request.urlopen(base + '/', timeout=10) as resp:
            if 'text/html' not in resp.headers.get('Content-Type', ''):
                raise Failure('GET / answers %s, not text/html' % resp.headers.get('Content-Type'))

        profile = os.path.join(tmp, 'chromium')
        browser = Proc('chromium', [a.chromium, '--headless=new', '--no-sandbox', '--disable-gpu',
                                    '--no-first-run', '--no-default-browser-check', '--disable-extensions',
                                    '--disable-background-networking', '--disable-component-update',
                                    '--disable-sync', '--disable-default-apps', '--metrics-recording-only',
                                    '--no-pings', '--mute-audio', '--disable-dev-shm-usage',
                                    '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0',
                                    '--user-data-dir=' + profile, 'about:blank'], env)
        procs.append(browser)
        m = browser.wait_line(r'DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)', 60)
        port = m.group(2)
        with urllib.request.urlopen('http://127.0.0.1:%s/json/list' % port, timeout=10) as resp:
            targets = json.load(resp)
        pages = [t for t in targets if t.get('type') == 'page']
        if not pages:
            raise Failure('chromium has no page target: %s' % targets)
        dt = DevTools(pages[0]['webSocketDebuggerUrl'])
        shot, narrow = walk(dt, base, a.artifacts)

        # Without SYNAPSE_API_TOKEN the page asks for nothing (another port is
        # another origin: no token in its sessionStorage).
        env_open = dict(env)
        del env_open['SYNAPSE_API_TOKEN']
        open_server = Proc('synapse serve (no token)', argv, env_open)
        procs.append(open_server)
        base_open = open_server.wait_line(r'(http://127\.0\.0\.1:\d+)', 30).group(1)
        dt.call('Page.navigate', url=base_open + '/')
        dt.wait('document.body && Number(document.body.dataset.loaded || 0) >= 1 && '
                '!!document.querySelector(%s)' % jstr(pack_sel(PACK)), 'the page of the server without a token')
        if dt.js('!document.getElementById("token-form").hidden'):
            raise Failure('the page asks for a token the server does not want')
        log('without a token: loaded, no token form')
        print('screenshot: %s' % shot)
        print('screenshot (narrow): %s' % narrow)
        ok = True
    except Failure as e:
        print('browser: FAILED: %s' % e, file=sys.stderr)
        for p in procs:
            if p.name == 'synapse serve':
                print('--- synapse serve printed:\n' + '\n'.join(p.all[-40:]), file=sys.stderr)
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
