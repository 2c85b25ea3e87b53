//! Netnews article model (placeholder, being written).
