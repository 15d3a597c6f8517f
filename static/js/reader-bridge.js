/*
 * ReaderBridge: the page's side of the local reader bridge (python manage.py reader_bridge).
 *
 *   const bridge = new ReaderBridge();              // or new ReaderBridge("ws://127.0.0.1:47110")
 *   await bridge.connect();
 *   await bridge.status();                          // {reader, reader_name, device, card}
 *   await bridge.readCertificate();                 // {certificate, ca_certificate} (base64 DER)
 *   await bridge.triesLeft();                       // {tries_left}
 *   await bridge.authenticate(challengeMessageB64, pin, step => show(step));  // the server's message, not a digest
 *                                                   // {signature, certificate, tries_left}
 *
 * Results and errors keep the bridge's field names. A failure rejects with a ReaderBridgeError
 * carrying .code (pin_incorrect, pin_locked, no_card, card_removed, no_reader, busy, ...),
 * .tries_left where the card told it, and .message (Japanese) / .message_en. When the bridge
 * cannot be reached (not running) the code is "bridge_unavailable".
 * Card requests accept {timeout: seconds to wait for a card}. The PIN is sent to the bridge only.
 */
(function (global) {
  "use strict";

  var DEFAULT_URL = "ws://127.0.0.1:47110";
  var CONNECT_TIMEOUT_MS = 3000;

  function ReaderBridgeError(code, message, fields) {
    var error = new Error(message || code);
    error.name = "ReaderBridgeError";
    error.code = code;
    error.message_en = (fields && fields.message_en) || error.message;
    if (fields && typeof fields.tries_left === "number") error.tries_left = fields.tries_left;
    // card_removed: whether the PIN had gone to the card when it left (a try may be used).
    if (fields && typeof fields.pin_tried === "boolean") error.pin_tried = fields.pin_tried;
    return error;
  }

  function unavailable() {
    return ReaderBridgeError(
      "bridge_unavailable",
      "リーダーブリッジに接続できません。パソコンでリーダーブリッジを起動してください。",
      { message_en: "cannot reach the reader bridge: start it on this computer" }
    );
  }

  function ReaderBridge(url) {
    this.url = url || (document.body && document.body.dataset.readerBridgeUrl) || DEFAULT_URL;
    this._socket = null;
    this._opening = null;
    this._pending = new Map();
    this._nextId = 1;
  }

  ReaderBridge.prototype.connect = function () {
    var self = this;
    if (self._socket && self._socket.readyState === WebSocket.OPEN) return Promise.resolve(self);
    if (self._opening) return self._opening;
    self._opening = new Promise(function (resolve, reject) {
      var socket;
      try {
        socket = new WebSocket(self.url);
      } catch (e) {
        self._opening = null;
        reject(unavailable());
        return;
      }
      var timer = setTimeout(function () { socket.close(); }, CONNECT_TIMEOUT_MS);
      socket.onopen = function () {
        clearTimeout(timer);
        self._socket = socket;
        self._opening = null;
        resolve(self);
      };
      socket.onmessage = function (event) { self._receive(event.data); };
      socket.onclose = function () {
        clearTimeout(timer);
        if (self._opening) { self._opening = null; reject(unavailable()); }
        if (self._socket === socket) self._socket = null;
        self._pending.forEach(function (request) { request.reject(unavailable()); });
        self._pending.clear();
      };
    });
    return self._opening;
  };

  ReaderBridge.prototype.close = function () {
    if (this._socket) this._socket.close();
  };

  ReaderBridge.prototype._receive = function (text) {
    var message;
    try { message = JSON.parse(text); } catch (e) { return; }
    var request = this._pending.get(message.id);
    if (!request) return;
    if (message.type === "progress") {
      if (request.onProgress) request.onProgress(message.step);
      return;
    }
    this._pending.delete(message.id);
    if (message.type === "error") {
      request.reject(ReaderBridgeError(message.code, message.message, message));
    } else {
      delete message.id;
      delete message.type;
      request.resolve(message);
    }
  };

  ReaderBridge.prototype._request = function (type, fields, onProgress) {
    var self = this;
    return self.connect().then(function () {
      return new Promise(function (resolve, reject) {
        var id = self._nextId++;
        var message = Object.assign({}, fields, { id: id, type: type });
        self._pending.set(id, { resolve: resolve, reject: reject, onProgress: onProgress });
        self._socket.send(JSON.stringify(message));
      });
    });
  };

  ReaderBridge.prototype.status = function () {
    return this._request("status", {});
  };

  ReaderBridge.prototype.readCertificate = function (options) {
    return this._request("read_certificate", options || {});
  };

  ReaderBridge.prototype.triesLeft = function (options) {
    return this._request("tries_left", options || {});
  };

  // challengeMessageB64: the server's challenge message as it was handed to the page (base64). The
  // bridge checks it is a HomeConsent challenge for this page's origin and computes the digest itself.
  ReaderBridge.prototype.authenticate = function (challengeMessageB64, pin, onProgress, options) {
    if (!/^[0-9]{4}$/.test(pin)) {
      return Promise.reject(ReaderBridgeError(
        "bad_request", "暗証番号は数字4桁です。", { message_en: "the PIN is 4 digits" }
      ));
    }
    var fields = Object.assign({}, options || {}, { challenge_message: challengeMessageB64, pin: pin });
    return this._request("authenticate", fields, onProgress);
  };

  ReaderBridge.Error = ReaderBridgeError;
  global.ReaderBridge = ReaderBridge;
})(window);
