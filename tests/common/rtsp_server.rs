//! gst-rtsp-server in process on a free localhost port, serving one
//! launch line at `/test`, its main loop on a thread of its own until the
//! server is dropped: examples/rtsp_server.rs's server, with one media per
//! client.

#[allow(dead_code)]
#[path = "../../examples/rtsp_server.rs"]
mod example;

pub use example::Server;

/// Serve `launch` (a `( … name=pay0 … )` bin description); GStreamer and
/// the plugin initialised by the caller.
pub fn start(launch: &str) -> Server {
    Server::serve("127.0.0.1", 0, "/test", launch, false).expect("RTSP server attached")
}
