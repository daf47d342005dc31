"""A real HTTP server on 127.0.0.1 serving a folder, for tests that download files."""
import contextlib
import functools
import http.server
import threading


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _RecordingHandler(_QuietHandler):
    """Serves GET from the folder and records POST bodies on the server."""

    def do_GET(self):
        self.server.gets.append(self.path)
        super().do_GET()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.server.posts.append((self.path, dict(self.headers), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextlib.contextmanager
def serve_folder(folder):
    """Yields (base_url, server); server.gets lists GET paths, server.posts keeps POSTs."""
    handler = functools.partial(_RecordingHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.posts = []
    server.gets = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/" % server.server_address[1], server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
