//! Transports (placeholder, being written).
