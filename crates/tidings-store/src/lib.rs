//! Article storage (placeholder, being written).
