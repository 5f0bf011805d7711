// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Cairn payment channels
/// @notice Many unidirectional payment channels of one ERC-20 token. A payer escrows a deposit
/// for a payee; the payee cashes the payer's highest cumulative EIP-712 voucher at any time
/// before the channel is final; the payer gets back what was not paid only after starting a
/// close and waiting out the channel's challenge window. Spec: `contracts/evm.md`.
/// @dev No owner, no admin, no upgrade path: escrowed tokens move only to a channel's payee
/// (by a voucher the payer signed) or back to its payer (after the window, or by a close the
/// payee signed). Every external function follows checks-effects-interactions: the channel is
/// updated before any token moves. Invariants, for every channel:
/// `paidOut <= deposit`, and once `settled`, `paidOut + refund == deposit` and nothing moves.
/// The token must be a plain ERC-20 (no fee on transfer, no rebasing): the escrow counts what
/// it was asked to move.
contract CairnChannels is EIP712 {
    using SafeERC20 for IERC20;

    /// One channel. Packed in three storage slots; `payer == address(0)` means no such channel.
    struct Channel {
        address payer;
        uint32 challengeWindow; // seconds, fixed at open
        uint64 closesAt; // 0 while open; set by startClose
        address payee;
        bool settled; // final: withdrawn or cooperatively closed
        uint128 deposit; // total escrowed (open + top-ups)
        uint128 paidOut; // total paid to the payee
    }

    /// EIP-712 type of a payer's voucher: the channel's cumulative total paid so far.
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(uint256 channelId,uint256 cumulative)");
    /// EIP-712 type of a payee's close: the total at which the payee agrees to end the channel.
    bytes32 public constant CLOSE_TYPEHASH = keccak256("Close(uint256 channelId,uint256 cumulative)");
    /// Longest challenge window a channel may have: 30 days.
    uint32 public constant MAX_CHALLENGE_WINDOW = 30 days;

    /// The one token every channel of this contract is paid in.
    IERC20 public immutable token;
    /// Number of channels opened; channel ids are 1..channelCount.
    uint256 public channelCount;
    mapping(uint256 => Channel) private _channels;

    event ChannelOpened(
        uint256 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint128 deposit,
        uint32 challengeWindow
    );
    event ToppedUp(uint256 indexed channelId, uint128 amount, uint128 deposit);
    event Claimed(uint256 indexed channelId, address indexed payee, uint128 amount, uint128 paidOut);
    event CloseStarted(uint256 indexed channelId, uint64 closesAt);
    event Withdrawn(uint256 indexed channelId, address indexed payer, uint128 refund);
    event ClosedCooperatively(uint256 indexed channelId, uint128 paidOut, uint128 refund);

    /// No channel has this id.
    error UnknownChannel(uint256 channelId);
    /// Only the channel's payer may call this.
    error NotPayer();
    /// Only the channel's payee may call this.
    error NotPayee();
    /// The payee is the zero address or the payer itself.
    error InvalidPayee();
    /// An amount of zero was given where tokens must move.
    error ZeroAmount();
    /// The challenge window is 0 or over MAX_CHALLENGE_WINDOW.
    error InvalidChallengeWindow(uint32 challengeWindow);
    /// The deposit would pass 2^128 - 1.
    error DepositOverflow();
    /// The channel is final: nothing more can be claimed, topped up or withdrawn.
    error ChannelSettled();
    /// The channel's close was already started.
    error ChannelClosing(uint64 closesAt);
    /// Withdraw needs a started close.
    error NotClosing();
    /// The challenge window ends at `closesAt`; withdraw must wait for it.
    error WindowNotOver(uint64 closesAt);
    /// The signature is malformed or was not made by the required party over this voucher
    /// (this chain, this contract, this channel, this cumulative).
    error InvalidSignature();
    /// The voucher's cumulative does not exceed what was already paid: a replay or an older one.
    error VoucherNotAbove(uint256 cumulative, uint128 paidOut);
    /// The whole deposit is already paid out: a top-up must come before more can be claimed.
    error EscrowExhausted();

    constructor(IERC20 token_) EIP712("CairnChannels", "1") {
        token = token_;
    }

    /// Opens a channel from the caller to `payee`, escrowing `amount` tokens (the caller must
    /// have approved this contract), and returns its id.
    function open(address payee, uint128 amount, uint32 challengeWindow) external returns (uint256 channelId) {
        if (payee == address(0) || payee == msg.sender) revert InvalidPayee();
        if (amount == 0) revert ZeroAmount();
        if (challengeWindow == 0 || challengeWindow > MAX_CHALLENGE_WINDOW) {
            revert InvalidChallengeWindow(challengeWindow);
        }
        channelId = ++channelCount;
        _channels[channelId] = Channel({
            payer: msg.sender,
            challengeWindow: challengeWindow,
            closesAt: 0,
            payee: payee,
            settled: false,
            deposit: amount,
            paidOut: 0
        });
        emit ChannelOpened(channelId, msg.sender, payee, amount, challengeWindow);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// Adds `amount` to an open channel's deposit. Only its payer, and not once a close started.
    function topUp(uint256 channelId, uint128 amount) external {
        Channel storage c = _existing(channelId);
        if (msg.sender != c.payer) revert NotPayer();
        if (c.settled) revert ChannelSettled();
        if (c.closesAt != 0) revert ChannelClosing(c.closesAt);
        if (amount == 0) revert ZeroAmount();
        uint256 deposit = uint256(c.deposit) + amount;
        if (deposit > type(uint128).max) revert DepositOverflow();
        c.deposit = uint128(deposit);
        emit ToppedUp(channelId, amount, uint128(deposit));
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// The payee cashes a voucher: pays it `min(cumulative, deposit) - paidOut` and returns that
    /// amount. Allowed until the channel is final, including during and after the challenge
    /// window as long as the payer has not withdrawn. A voucher above the deposit pays the
    /// deposit and stays good for the rest after a top-up.
    function claim(uint256 channelId, uint256 cumulative, bytes calldata signature)
        external
        returns (uint128 amount)
    {
        Channel storage c = _existing(channelId);
        address payee = c.payee;
        if (msg.sender != payee) revert NotPayee();
        if (c.settled) revert ChannelSettled();
        uint128 paidOut = c.paidOut;
        if (cumulative <= paidOut) revert VoucherNotAbove(cumulative, paidOut);
        uint128 deposit = c.deposit;
        if (paidOut == deposit) revert EscrowExhausted();
        _requireSigner(voucherDigest(channelId, cumulative), signature, c.payer);
        // cumulative > paidOut and deposit > paidOut, so the new total is above paidOut.
        uint128 total = cumulative < deposit ? uint128(cumulative) : deposit;
        amount = total - paidOut;
        c.paidOut = total;
        emit Claimed(channelId, payee, amount, total);
        token.safeTransfer(payee, amount);
    }

    /// The payer starts the close: after `challengeWindow` seconds it may withdraw the rest.
    /// Returns when the window ends.
    function startClose(uint256 channelId) external returns (uint64 closesAt) {
        Channel storage c = _existing(channelId);
        if (msg.sender != c.payer) revert NotPayer();
        if (c.settled) revert ChannelSettled();
        if (c.closesAt != 0) revert ChannelClosing(c.closesAt);
        closesAt = uint64(block.timestamp) + c.challengeWindow;
        c.closesAt = closesAt;
        emit CloseStarted(channelId, closesAt);
    }

    /// After the challenge window, the payer takes back `deposit - paidOut` and the channel is
    /// final. Returns the refund.
    function withdraw(uint256 channelId) external returns (uint128 refund) {
        Channel storage c = _existing(channelId);
        address payer = c.payer;
        if (msg.sender != payer) revert NotPayer();
        if (c.settled) revert ChannelSettled();
        uint64 closesAt = c.closesAt;
        if (closesAt == 0) revert NotClosing();
        if (block.timestamp < closesAt) revert WindowNotOver(closesAt);
        refund = c.deposit - c.paidOut;
        c.settled = true;
        emit Withdrawn(channelId, payer, refund);
        if (refund != 0) token.safeTransfer(payer, refund);
    }

    /// Ends the channel at once with the payee's consent: the payer presents a `Close` the
    /// payee signed for `cumulative`. The payee gets `min(cumulative, deposit) - paidOut` if
    /// that is positive (the payer calling is its consent to pay it), the payer the rest.
    /// Allowed at any time before the channel is final, also during a started close.
    function cooperativeClose(uint256 channelId, uint256 cumulative, bytes calldata payeeSignature)
        external
        returns (uint128 paid, uint128 refund)
    {
        Channel storage c = _existing(channelId);
        address payer = c.payer;
        if (msg.sender != payer) revert NotPayer();
        if (c.settled) revert ChannelSettled();
        address payee = c.payee;
        _requireSigner(closeDigest(channelId, cumulative), payeeSignature, payee);
        uint128 deposit = c.deposit;
        uint128 paidOut = c.paidOut;
        uint128 total = cumulative < deposit ? uint128(cumulative) : deposit;
        if (total > paidOut) {
            paid = total - paidOut;
            paidOut = total;
            c.paidOut = total;
        }
        refund = deposit - paidOut;
        c.settled = true;
        if (paid != 0) emit Claimed(channelId, payee, paid, paidOut);
        emit ClosedCooperatively(channelId, paidOut, refund);
        if (paid != 0) token.safeTransfer(payee, paid);
        if (refund != 0) token.safeTransfer(payer, refund);
    }

    /// A channel's state; reverts with UnknownChannel for an id never opened.
    function getChannel(uint256 channelId) external view returns (Channel memory) {
        return _existing(channelId);
    }

    /// The EIP-712 digest the payer signs for a voucher of `cumulative` on `channelId`.
    function voucherDigest(uint256 channelId, uint256 cumulative) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulative)));
    }

    /// The EIP-712 digest the payee signs to agree to end `channelId` at `cumulative`.
    function closeDigest(uint256 channelId, uint256 cumulative) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CLOSE_TYPEHASH, channelId, cumulative)));
    }

    /// The domain separator (name "CairnChannels", version "1", this chain, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _existing(uint256 channelId) private view returns (Channel storage c) {
        c = _channels[channelId];
        if (c.payer == address(0)) revert UnknownChannel(channelId);
    }

    function _requireSigner(bytes32 digest, bytes calldata signature, address expected) private pure {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != expected) revert InvalidSignature();
    }
}
