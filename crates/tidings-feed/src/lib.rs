//! Peering (being written): transit sessions in and feeders out.
