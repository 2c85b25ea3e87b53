//! Reader sessions (placeholder, being written).
