package fakeprovider

func serveLive(ss *wsSession, msgs <-chan wsMessage) {}
