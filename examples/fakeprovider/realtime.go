package fakeprovider

func serveRealtime(ss *wsSession, msgs <-chan wsMessage) {}
